//! Arbitrary detector directories: the first two bytes give the length of `detector.json`, the
//! rest is `model.safetensors`. Loading may fail, but only with an error.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use beth_detect::backend::NdArray;
use beth_detect::detector::{DETECTOR_FILE, Detector, WEIGHTS_FILE};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("beth-detect-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let json_len = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (json, weights) = data[2..].split_at(json_len);
    let dir = dir();
    std::fs::write(dir.join(DETECTOR_FILE), json).unwrap();
    std::fs::write(dir.join(WEIGHTS_FILE), weights).unwrap();
    let _ = Detector::<NdArray>::load(dir, &Default::default());
});
