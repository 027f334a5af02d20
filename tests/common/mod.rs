//! Helpers shared by the integration tests.

/// The largest absolute difference between two equally long slices.
#[allow(dead_code)] // not every test crate compares numbers
pub fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A decoded PNG plot: its size and RGB pixels.
#[allow(dead_code)] // not every test crate draws plots
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[u8; 3]>,
}

#[allow(dead_code)]
impl Picture {
    /// Decodes `path`, failing the test unless it is an 8-bit RGB PNG.
    pub fn open(path: &std::path::Path) -> Picture {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Picture {
            width: info.width,
            height: info.height,
            rgb: buf.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        }
    }

    /// Share of pixels that are not white.
    pub fn inked(&self) -> f64 {
        self.rgb.iter().filter(|&&p| p != [255, 255, 255]).count() as f64 / self.rgb.len() as f64
    }

    /// Pixels close to `colour` (each channel within 8).
    pub fn count_near(&self, colour: [u8; 3]) -> usize {
        self.rgb
            .iter()
            .filter(|p| p.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 8))
            .count()
    }
}

/// Fails the test with the command's stderr unless it exited 0.
#[allow(dead_code)]
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a detector in `dir` from the committed PyTorch fixture with `beth-detect import-torch`
/// (no training needed) and returns its directory.
#[allow(dead_code)]
pub fn fixture_detector(bin: &str, dir: &std::path::Path) -> std::path::PathBuf {
    fixture_detector_with_threshold(bin, dir, "0.5")
}

/// [`fixture_detector`] with another threshold, in `dir/detector-<threshold>`.
#[allow(dead_code)]
pub fn fixture_detector_with_threshold(
    bin: &str,
    dir: &std::path::Path,
    threshold: &str,
) -> std::path::PathBuf {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let model = dir.join(format!("detector-{threshold}"));
    let out = std::process::Command::new(bin)
        .arg("import-torch")
        .arg(fixtures.join("model.pt"))
        .arg("--scaler")
        .arg(fixtures.join("scaler.json"))
        .arg("--threshold")
        .arg(threshold)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert_success(&out);
    model
}

/// `detector`'s scores on the real samples the notebook's PyTorch network was run on, beside
/// PyTorch's (`tests/fixtures/pytorch/real_predictions.json`): `(ours, theirs)`.
#[allow(dead_code)]
pub fn scores_beside_pytorch<B: burn::prelude::Backend>(
    detector: &beth_detect::Detector<B>,
) -> (Vec<f32>, Vec<f32>) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("pytorch/real_predictions.json")).unwrap(),
    )
    .unwrap();
    let mut ours = Vec::new();
    for file in expected["files"].as_array().unwrap() {
        let path = fixtures
            .join("beth/datacamp_projection")
            .join(file.as_str().unwrap());
        let data = beth_detect::BethDataset::open(path).unwrap();
        ours.extend(detector.score_dataset(&data).unwrap());
    }
    let theirs = expected["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    (ours, theirs)
}

#[allow(dead_code)] // used by the tests of serve and the fleet
fn common_fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// Tracee events made from the real DataCamp test rows: the real Tracee event of
/// `classic-json-example.jsonl` with each row's seven fields and its own timestamp written in.
#[allow(dead_code)] // used by the tests of serve and the fleet
pub fn tracee_events(count: usize) -> Vec<String> {
    let template: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(common_fixture("tracee/classic-json-example.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let rows = std::fs::read_to_string(common_fixture(
        "beth/njeriw_DataCamp/labelled_test_head7500.csv",
    ))
    .unwrap();
    // The DataCamp columns after the index, in file order.
    let names = beth_detect::features::FeatureSet::Seed.names();
    rows.lines()
        .skip(1)
        .take(count)
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<i64> = line
                .trim_end_matches('\r')
                .split(',')
                .map(|f| f.trim_matches('"').parse().unwrap())
                .collect();
            let mut event = template.clone();
            for (name, value) in names.iter().zip(&fields[1..8]) {
                event[*name] = serde_json::Value::from(*value);
            }
            event["timestamp"] = serde_json::Value::from(1_657_291_777_566_819_000u64 + i as u64);
            event.to_string()
        })
        .collect()
}
