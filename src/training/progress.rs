//! How a run shows its progress: burn's renderers, silence, or a callback.

use burn::train::renderer::MetricsRenderer;

/// A moment in a run that a [`Progress::Observe`] callback hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A training step of `epoch` (1-based) out of `epochs` was rendered.
    Training {
        /// The current epoch.
        epoch: usize,
        /// Epochs planned.
        epochs: usize,
    },
    /// A validation step was rendered.
    Validation,
}

/// How training shows its progress.
pub enum Progress {
    /// burn's terminal UI when stdout is a terminal; otherwise (a log, a notebook, CI) one
    /// line per epoch on stderr, `epoch 3/20`.
    Default,
    /// Nothing at all.
    Silent,
    /// Nothing on screen; every rendered step is handed to the callback (to print one line
    /// per epoch, time epochs, …).
    Observe(Box<dyn FnMut(ProgressEvent) + Send + Sync>),
    /// A renderer of the caller's.
    Custom(Box<dyn MetricsRenderer>),
}

/// A callback that writes `epoch N/M` to stderr once per epoch, when its first step is
/// rendered.
pub(super) fn epoch_lines() -> Box<dyn FnMut(ProgressEvent) + Send + Sync> {
    let mut last_epoch = 0;
    Box::new(move |event| {
        if let ProgressEvent::Training { epoch, epochs } = event
            && epoch != last_epoch
        {
            last_epoch = epoch;
            eprintln!("epoch {epoch}/{epochs}");
        }
    })
}

/// Renders nothing; tells a callback what happened.
pub(super) struct ObservingRenderer(pub(super) Box<dyn FnMut(ProgressEvent) + Send + Sync>);

impl burn::train::renderer::MetricsRendererTraining for ObservingRenderer {
    fn update_train(&mut self, _: burn::train::renderer::MetricState) {}
    fn update_valid(&mut self, _: burn::train::renderer::MetricState) {}
    fn render_train(
        &mut self,
        item: burn::train::renderer::TrainingProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
        (self.0)(ProgressEvent::Training {
            epoch: item.global_progress.items_processed,
            epochs: item.global_progress.items_total,
        })
    }
    fn render_valid(
        &mut self,
        _: burn::train::renderer::TrainingProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
        (self.0)(ProgressEvent::Validation)
    }
}

impl burn::train::renderer::MetricsRendererEvaluation for ObservingRenderer {
    fn update_test(
        &mut self,
        _: burn::train::renderer::EvaluationName,
        _: burn::train::renderer::MetricState,
    ) {
    }
    fn render_test(
        &mut self,
        _: burn::train::renderer::EvaluationProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
    }
}

impl MetricsRenderer for ObservingRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: burn::train::metric::MetricDefinition) {}
}

/// Lets a boxed renderer be handed to burn, which wants a concrete type.
pub(super) struct BoxedRenderer(pub(super) Box<dyn MetricsRenderer>);

impl burn::train::renderer::MetricsRendererTraining for BoxedRenderer {
    fn update_train(&mut self, s: burn::train::renderer::MetricState) {
        self.0.update_train(s)
    }
    fn update_valid(&mut self, s: burn::train::renderer::MetricState) {
        self.0.update_valid(s)
    }
    fn render_train(
        &mut self,
        i: burn::train::renderer::TrainingProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_train(i, p)
    }
    fn render_valid(
        &mut self,
        i: burn::train::renderer::TrainingProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_valid(i, p)
    }
}

impl burn::train::renderer::MetricsRendererEvaluation for BoxedRenderer {
    fn update_test(
        &mut self,
        n: burn::train::renderer::EvaluationName,
        s: burn::train::renderer::MetricState,
    ) {
        self.0.update_test(n, s)
    }
    fn render_test(
        &mut self,
        i: burn::train::renderer::EvaluationProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_test(i, p)
    }
}

impl MetricsRenderer for BoxedRenderer {
    fn manual_close(&mut self) {
        self.0.manual_close()
    }
    fn register_metric(&mut self, d: burn::train::metric::MetricDefinition) {
        self.0.register_metric(d)
    }
}
