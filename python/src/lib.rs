//! `pdgc._pdgc`: the pdgc library as a Python module. Every function here converts
//! arguments, calls one library function, and converts its result or error back: what pdgc
//! does is the library's (`pdgc::fit`, `pdgc::folder`, `pdgc::simulate`, …), so a fit from
//! Python and one from the command line are the same computation.
//!
//! Python-facing behaviour that is the binding's own:
//! - training runs on a thread of its own with the GIL released; the calling thread looks
//!   for Ctrl-C every 20 ms (which stops the fit after the current epoch), and an observer
//!   takes the GIL after each epoch to call the user's callback;
//! - a panic inside the library becomes a `RuntimeError`, never a process abort;
//! - arrays are handed back as numpy arrays that own the library's buffers (no copy).

use numpy::{AllowTypeChange, IntoPyArray, PyArray2, PyArrayLike2};
use pdgc::data::Table;
use pdgc::folder::{FitFolder, Provenance};
use pdgc::matrix::Matrix;
use pdgc::spec::ModelSpec;
use pdgc::train::{Control, TraceRow};
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pyo3::create_exception!(
    pdgc,
    ModelError,
    PyValueError,
    "A model that does not pass the checker; the message is `pdgc check`'s diagnostics."
);
pyo3::create_exception!(
    pdgc,
    DataError,
    PyValueError,
    "Data that do not suit the model: a value that is not finite, a constant column, too few rows, a missing column."
);
pyo3::create_exception!(
    pdgc,
    FitError,
    PyRuntimeError,
    "A fit that could not be made: training diverged, or threads could not be started."
);
pyo3::create_exception!(
    pdgc,
    FolderError,
    PyValueError,
    "A fit folder or model.safetensors file that cannot be read."
);

/// A numpy array of f64, rows × columns.
type Array<'py> = Bound<'py, PyArray2<f64>>;
/// A fit folder's files: each one's name and bytes.
type Files = Vec<(String, Vec<u8>)>;
/// What rebuilds a pickled fit: its files, its recovery, whether it was stopped.
type Pickled<'py> = (Files, Option<Bound<'py, PyDict>>, bool);
/// One data set of `compare`: seed, X, S, and X's column names.
type ProblemArgs<'py> = (
    u64,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Vec<String>>,
);

/// Runs `f`, turning a panic into a `RuntimeError` (pdgc's bug, reported as one).
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(PyRuntimeError::new_err(format!(
            "pdgc failed inside (a bug; please report it): {what}"
        )))
    })
}

fn data_error(e: pdgc::data::DataError) -> PyErr {
    DataError::new_err(e.to_string())
}

fn folder_error(e: pdgc::folder::FolderError) -> PyErr {
    FolderError::new_err(e.to_string())
}

fn write_error(e: pdgc::files::WriteError) -> PyErr {
    PyOSError::new_err(e.to_string())
}

/// An array-like (any numeric dtype, C or Fortran order) as the library's matrix.
fn matrix(x: &Bound<'_, PyAny>) -> PyResult<Matrix> {
    let array: PyArrayLike2<f64, AllowTypeChange> = x.extract().map_err(|_| {
        DataError::new_err("expected a 2-D array of numbers (rows × columns)".to_string())
    })?;
    Ok(array.as_array().to_owned())
}

/// A table from an array-like or a pandas DataFrame (whose column names are kept);
/// `columns` names an array's columns, and by default they are `default(count)`.
fn table(
    name: &str,
    x: &Bound<'_, PyAny>,
    columns: Option<Vec<String>>,
    default: impl Fn(usize) -> Vec<String>,
) -> PyResult<Table> {
    table_with(name, x, columns, default, 2)
}

/// [`table`] for new rows to encode (one is enough).
fn rows_to_encode(
    x: &Bound<'_, PyAny>,
    columns: Option<Vec<String>>,
    fitted: &[String],
) -> PyResult<Table> {
    table_with("X", x, columns, |_| fitted.to_vec(), 1)
}

fn table_with(
    name: &str,
    x: &Bound<'_, PyAny>,
    columns: Option<Vec<String>>,
    default: impl Fn(usize) -> Vec<String>,
    min_rows: usize,
) -> PyResult<Table> {
    let (values, frame_columns) = if x.hasattr("columns")? && x.hasattr("to_numpy")? {
        let names: Vec<String> = x
            .getattr("columns")?
            .try_iter()?
            .map(|c| c.and_then(|c| c.str().map(|s| s.to_string())))
            .collect::<PyResult<_>>()?;
        (
            matrix(&x.call_method1("to_numpy", ("float64",))?)?,
            Some(names),
        )
    } else {
        (matrix(x)?, None)
    };
    let columns = match columns.or(frame_columns) {
        Some(columns) => columns,
        None => {
            let named = default(values.ncols());
            if named.len() != values.ncols() {
                return Err(DataError::new_err(format!(
                    "{name} has {} columns; the model was fitted to {} ({})",
                    values.ncols(),
                    named.len(),
                    named.join(", ")
                )));
            }
            named
        }
    };
    Table::from_values(name, columns, values, min_rows).map_err(data_error)
}

fn numpy<'py>(py: Python<'py>, m: Matrix) -> Array<'py> {
    m.into_pyarray(py)
}

// ---------------------------------------------------------------------------------------
// Models.

/// A checked model: `Model(text)` or `Model.from_file(path)`.
///
/// A model that does not pass the checker raises `ModelError` with the same diagnostics
/// `pdgc check` prints (file, line, caret, suggestions).
#[pyclass(module = "pdgc", frozen)]
struct Model {
    spec: ModelSpec,
    text: String,
    name: String,
}

#[pymethods]
impl Model {
    /// Compiles the model text `text`; `name` is the file name shown in diagnostics.
    #[new]
    #[pyo3(signature = (text, name = "<model>"))]
    fn new(text: &str, name: &str) -> PyResult<Model> {
        match pdgc::compile(text) {
            Ok(spec) => Ok(Model {
                spec,
                text: text.to_string(),
                name: name.to_string(),
            }),
            Err(diagnostics) => Err(ModelError::new_err(
                diagnostics.render(name, text).trim_end().to_string(),
            )),
        }
    }

    /// Reads and compiles the `.pdg` file at `path`.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Model> {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path)
            .map_err(|e| PyOSError::new_err(format!("cannot read model file `{name}`: {e}")))?;
        match pdgc::decode(&bytes) {
            Ok(text) => Model::new(&text, &name),
            Err((diagnostics, text)) => Err(ModelError::new_err(
                diagnostics.render(&name, &text).trim_end().to_string(),
            )),
        }
    }

    /// The model's name (`model NAME`, or the file's).
    #[getter]
    fn name(&self) -> String {
        self.spec.name.clone()
    }

    /// The model file's text.
    #[getter]
    fn text(&self) -> String {
        self.text.clone()
    }

    /// The observed columns' names, in the model's order (an array with this many columns
    /// is read as these).
    #[getter]
    fn observed(&self) -> Vec<String> {
        self.spec.observed.names_for(self.spec.m())
    }

    /// The number of latent dimensions (sources).
    #[getter]
    fn latents(&self) -> usize {
        self.spec.n()
    }

    /// The model in the language's normal form (what `pdgc check --pdg` prints).
    fn to_pdg(&self) -> String {
        self.spec.to_pdg()
    }

    /// Pickled as its text (and name), compiled again when unpickled.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String, String))> {
        let this = slf.get();
        Ok((
            slf.get_type().into_any(),
            (this.text.clone(), this.name.clone()),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "pdgc.Model({:?}: {} observed, {} latent)",
            self.spec.name,
            self.spec.m(),
            self.spec.n()
        )
    }

    /// Fits the model to the rows of `x` and returns a `Fit`.
    ///
    /// x: the data, rows × columns: any 2-D array-like of numbers (float32 or float64, C or
    ///    Fortran order) or a pandas DataFrame, whose column names are matched to the
    ///    model's `observed x = [...]` names. An array's columns are taken in the model's
    ///    order (name them with `columns`).
    /// columns: names for an array's columns.
    /// epochs, lr, seed: in place of the model file's `train { }` values.
    /// threads: threads for training; the result is the same on any count.
    /// truth: the true sources of x's rows (rows × sources): the trace records each one's
    ///    |corr| as training goes, and `Fit.recovery` holds the final recovery.
    /// progress: show a progress line on sys.stderr.
    /// callback: called after each epoch as `callback(epoch, terms)` (terms: a dict of the
    ///    objective's terms); returning False stops training there, and the fit is made
    ///    from the model as it then stands (`Fit.stopped` is True). Not called for a
    ///    model with `train { restarts }`, whose fits run at once on other threads.
    ///
    /// Training runs without the GIL. Ctrl-C stops it after the current epoch and raises
    /// KeyboardInterrupt. Bad data raise `pdgc.DataError` naming the row and column; a
    /// diverged fit raises `pdgc.FitError`.
    #[pyo3(signature = (x, *, columns=None, epochs=None, lr=None, seed=None, threads=1, truth=None, progress=false, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        columns: Option<Vec<String>>,
        epochs: Option<usize>,
        lr: Option<f64>,
        seed: Option<u64>,
        threads: u16,
        truth: Option<&Bound<'_, PyAny>>,
        progress: bool,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Fit> {
        let started = std::time::Instant::now();
        let overrides = pdgc::fit::Overrides { epochs, lr, seed };
        let spec = overrides
            .apply(&self.spec)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        if threads == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let data = table("X", x, columns, |count| spec.observed.names_for(count))?;
        let truth = match truth {
            None => None,
            Some(t) => Some(table("truth", t, None, |count| {
                (0..count).map(|c| format!("s{c}")).collect()
            })?),
        };
        let rows = data.values.nrows();
        if let Some((e, memory)) = pdgc::resources::fit_refusal_here(&spec, rows, threads.into()) {
            return Err(PyMemoryError::new_err(format!(
                "training `{}` on {rows} rows needs {} (mostly {}); {} {}",
                spec.name,
                pdgc::resources::human(e.bytes),
                e.largest.what(),
                memory.source,
                pdgc::resources::human(memory.bytes)
            )));
        }
        let total = spec.train.epochs * spec.train.restarts;
        let observer = Watcher {
            callback,
            progress: progress.then(|| Progress::new(total)),
            error: Mutex::new(None),
            interrupted: AtomicBool::new(false),
        };
        let options = pdgc::FitOptions {
            name: "X",
            threads: threads.into(),
            truth: truth.as_ref().map(|t| &t.values),
            resume: None,
            finish_when_stopped: true,
        };
        // Training runs on a thread of its own, without the GIL, so other Python threads
        // run meanwhile; this thread waits, and looks for Ctrl-C (which Python sees only on
        // its main thread) every 20 ms, telling training to stop after its current epoch.
        let watcher = &observer;
        let (spec, data, options) = (&spec, &data, &options);
        let fitted = std::thread::scope(|scope| {
            let training = scope.spawn(move || {
                let mut observer = watcher;
                guarded(|| {
                    pdgc::fit(spec, data, options, &mut observer).map_err(|e| match e {
                        pdgc::FitError::Data(e) => data_error(e),
                        pdgc::FitError::Truth(why) => {
                            DataError::new_err(format!("the truth {why}"))
                        }
                        e => FitError::new_err(e.to_string()),
                    })
                })
            });
            while !training.is_finished() {
                py.detach(|| std::thread::sleep(std::time::Duration::from_millis(20)));
                if let Err(e) = py.check_signals() {
                    watcher.stop_with(e);
                }
            }
            training
                .join()
                .unwrap_or_else(|_| Err(PyRuntimeError::new_err("pdgc's training thread failed")))
        });
        if let Some(progress) = &observer.progress {
            progress.finish(py);
        }
        // Ctrl-C or an exception in the callback: raised now; nothing was kept.
        if let Some(error) = observer
            .error
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
        {
            return Err(error);
        }
        let fitted = fitted?;
        if fitted.trace.is_empty() {
            return Err(FitError::new_err(
                "the fit was stopped before its first epoch",
            ));
        }
        let provenance = Provenance {
            model_file: self.name.clone(),
            model_text: Some(self.text.clone()),
            data_file: format!("a Python array ({rows} × {})", data.values.ncols()),
            data_bytes: 0,
            threads,
            wall_seconds: started.elapsed().as_secs_f64(),
            // A description, not a path: `pdgc report` would look for a file of that name.
            truth_file: None,
            truth_path_bytes: None,
        };
        let recovery = fitted.recovery.clone();
        let stopped = fitted.stopped;
        let truth = truth.map(|t| pdgc::report::Truth {
            file: "a Python array".into(),
            columns: t.columns,
            values: t.values,
        });
        let folder = py.detach(|| {
            guarded(|| {
                FitFolder::new(
                    fitted,
                    provenance,
                    truth,
                    Some(&pdgc::report::Options::default()),
                )
                .map_err(folder_error)
            })
        })?;
        Ok(Fit {
            folder: Some(folder),
            fitted: None,
            recovery,
            stopped,
        })
    }
}

/// What the fit tells Python as it trains: the callback, the progress line, and Ctrl-C.
struct Watcher {
    callback: Option<Py<PyAny>>,
    progress: Option<Progress>,
    /// The exception that stopped training (KeyboardInterrupt, or the callback's own).
    error: Mutex<Option<PyErr>>,
    /// Set when `error` is: training stops after the current epoch.
    interrupted: AtomicBool,
}

impl Watcher {
    /// Stops training after the current epoch, raising `error` afterwards (the first one
    /// kept). A KeyboardInterrupt says what became of the fit.
    fn stop_with(&self, error: PyErr) {
        let error = Python::attach(|py| match error.is_instance_of::<PyKeyboardInterrupt>(py) {
            true => PyKeyboardInterrupt::new_err("the fit was stopped (Ctrl-C); nothing was kept"),
            false => error,
        });
        let mut kept = self.error.lock().unwrap_or_else(|e| e.into_inner());
        kept.get_or_insert(error);
        self.interrupted.store(true, Ordering::SeqCst);
    }

    /// With the GIL: the progress line and the callback; an exception from either, or
    /// Ctrl-C seen meanwhile, stops training.
    fn after_epoch(&self, trace: Option<&[TraceRow]>) -> Control {
        if self.interrupted.load(Ordering::SeqCst) {
            return Control::Stop;
        }
        // Restarts' epochs (no trace) call nothing: they need not take the GIL.
        if trace.is_none() || (self.callback.is_none() && self.progress.is_none()) {
            return Control::Continue;
        }
        Python::attach(|py| {
            let outcome = (|| -> PyResult<Control> {
                if let (Some(progress), Some(trace)) = (&self.progress, trace) {
                    progress.show(py, trace)?;
                }
                match (&self.callback, trace.and_then(|t| t.last())) {
                    (Some(callback), Some(row)) => {
                        let terms = terms(py, row)?;
                        let answer = callback.bind(py).call1((row.epoch, terms))?;
                        // `False` stops; anything else (None too) goes on.
                        Ok(match answer.is(pyo3::types::PyBool::new(py, false)) {
                            true => Control::Stop,
                            false => Control::Continue,
                        })
                    }
                    _ => Ok(Control::Continue),
                }
            })();
            outcome.unwrap_or_else(|e| {
                self.stop_with(e);
                Control::Stop
            })
        })
    }
}

impl pdgc::Observer for &Watcher {
    fn epoch(&mut self, _model: &mut pdgc::backend::Model<f32>, trace: &[TraceRow]) -> Control {
        self.after_epoch(Some(trace))
    }

    fn restart_epoch(&self) -> Control {
        self.after_epoch(None)
    }
}

/// An epoch's terms as a dict.
fn terms<'py>(py: Python<'py>, row: &TraceRow) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let t = &row.terms;
    d.set_item("loss", t.loss)?;
    d.set_item("reconstruction", t.reconstruction)?;
    d.set_item("kl", t.kl())?;
    d.set_item("log_q", t.log_q)?;
    d.set_item("log_p", t.log_p)?;
    d.set_item("beta", row.beta)?;
    Ok(d)
}

/// A progress line on Python's `sys.stderr` (which a notebook shows), redrawn at most
/// every 0.2 s.
struct Progress {
    total: usize,
    started: std::time::Instant,
    shown: Mutex<std::time::Instant>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            total,
            started: now,
            shown: Mutex::new(now - std::time::Duration::from_secs(1)),
        }
    }

    fn show(&self, py: Python<'_>, trace: &[TraceRow]) -> PyResult<()> {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let row = trace.last().expect("after an epoch");
        if shown.elapsed().as_secs_f64() < 0.2 && row.epoch < self.total {
            return Ok(());
        }
        *shown = std::time::Instant::now();
        let rate = trace.len() as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let line = format!(
            "\repoch {}/{}  loss {:.5}  {} epochs/s",
            row.epoch,
            self.total,
            row.terms.loss,
            pdgc::folder::rate(rate)
        );
        let stderr = py.import("sys")?.getattr("stderr")?;
        stderr.call_method1("write", (line,))?;
        stderr.call_method0("flush")?;
        Ok(())
    }

    fn finish(&self, py: Python<'_>) {
        if let Ok(stderr) = py.import("sys").and_then(|s| s.getattr("stderr")) {
            let _ = stderr.call_method1("write", ("\n",));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fits.

/// A fitted model: its sources, priors, trace and (given the truth) recovery; it encodes
/// new rows, samples, decodes, and saves the very folder `pdgc fit` writes.
#[pyclass(module = "pdgc", frozen)]
struct Fit {
    /// A whole fit (made here, or read from a fit folder).
    folder: Option<FitFolder>,
    /// A model read from `model.safetensors` alone.
    fitted: Option<pdgc::fitted::Fitted>,
    recovery: Option<pdgc::eval::Recovery>,
    stopped: bool,
}

impl Fit {
    fn fitted(&self) -> &pdgc::fitted::Fitted {
        match (&self.folder, &self.fitted) {
            (Some(folder), _) => &folder.fitted,
            (None, Some(fitted)) => fitted,
            (None, None) => unreachable!("a fit holds a model"),
        }
    }

    fn folder(&self) -> PyResult<&FitFolder> {
        self.folder.as_ref().ok_or_else(|| {
            FolderError::new_err(
                "this fit was loaded from model.safetensors alone: it has no sources, trace or report (load its folder)",
            )
        })
    }
}

fn recovery_dict<'py>(py: Python<'py>, r: &pdgc::eval::Recovery) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("mcc", r.mcc)?;
    d.set_item("mcc_spearman", r.mcc_spearman)?;
    d.set_item("per_source", r.per_source.clone())?;
    d.set_item("matching", r.matching.clone())?;
    d.set_item("abs_corr", r.abs_corr.clone())?;
    Ok(d)
}

#[pymethods]
impl Fit {
    /// The posterior means of the fitted rows (rows × latent dimensions), at single
    /// precision as `sources.csv` holds them.
    #[getter]
    fn sources<'py>(&self, py: Python<'py>) -> PyResult<Array<'py>> {
        Ok(numpy(py, self.folder()?.view.means.clone()))
    }

    /// The posterior standard deviations of the fitted rows.
    #[getter]
    fn sources_sd<'py>(&self, py: Python<'py>) -> PyResult<Array<'py>> {
        Ok(numpy(py, self.folder()?.view.sds.clone()))
    }

    /// Each latent dimension's fitted prior: a dict with its family and parameters, and
    /// the mean posterior variance.
    #[getter]
    fn priors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let view = &self.folder()?.view;
        let list = PyList::empty(py);
        for (j, (prior, variance)) in view
            .priors
            .iter()
            .zip(&view.posterior_variances)
            .enumerate()
        {
            let d = PyDict::new(py);
            d.set_item("dimension", format!("{}{j}", view.spec.latent.name))?;
            d.set_item("family", view.spec.prior.family(j).to_pdg())?;
            let entry = pdgc::folder::FittedPrior::new(String::new(), prior, *variance);
            if !entry.weights.is_empty() {
                d.set_item("weights", entry.weights)?;
                d.set_item("means", entry.means)?;
                d.set_item("variances", entry.variances)?;
            }
            for (key, value) in [
                ("location", entry.location),
                ("scale", entry.scale),
                ("dof", entry.dof),
            ] {
                if let Some(v) = value {
                    d.set_item(key, v)?;
                }
            }
            d.set_item("posterior_variance", variance)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The training trace, one row per epoch: epoch, loss, reconstruction, kl, beta, each
    /// dimension's posterior variance `sigma2_z*`, learned noise variances and, given the
    /// truth, each source's |corr| `corr_*` (NaN where not recorded). A pandas DataFrame
    /// when pandas is installed, else a dict of numpy arrays.
    #[getter]
    fn trace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let folder = self.folder()?;
        let (names, values) = pdgc::trace::columns(&folder.view.spec, &folder.view.trace);
        let d = PyDict::new(py);
        for (name, column) in names.into_iter().zip(values) {
            d.set_item(name, column.into_pyarray(py))?;
        }
        match py.import("pandas") {
            Ok(pandas) => pandas.call_method1("DataFrame", (d,)),
            Err(_) => Ok(d.into_any()),
        }
    }

    /// The recovery of the truth given to `fit` (MCC, Spearman MCC, each true source's
    /// |corr| and matched estimate, the |corr| matrix); `None` without a truth.
    #[getter]
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.recovery
            .as_ref()
            .map(|r| recovery_dict(py, r))
            .transpose()
    }

    /// Whether the callback stopped training before its last epoch.
    #[getter]
    fn stopped(&self) -> bool {
        self.stopped
    }

    /// The model that was fitted.
    #[getter]
    fn model(&self) -> PyResult<Model> {
        let spec = self.fitted().model.spec().clone();
        let record = self.folder.as_ref().map(|f| &f.record);
        Ok(Model {
            text: record
                .and_then(|r| r.model_text.clone())
                .unwrap_or_else(|| spec.to_pdg()),
            name: record.map_or(spec.name.clone(), |r| r.model_file.clone()),
            spec,
        })
    }

    /// The names of the data columns the model was fitted to, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.fitted().preprocessing.columns.clone()
    }

    /// Seconds of training.
    #[getter]
    fn train_seconds(&self) -> PyResult<f64> {
        Ok(self.folder()?.record.train_seconds)
    }

    /// Epochs trained per second.
    #[getter]
    fn epochs_per_second(&self) -> PyResult<f64> {
        Ok(self.folder()?.record.epochs_per_second)
    }

    /// The sources of new rows `X` (columns as the fitted data's, by name for a DataFrame):
    /// posterior means, and with `sd=True` also their standard deviations.
    #[pyo3(signature = (x, *, columns=None, sd=false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        columns: Option<Vec<String>>,
        sd: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fitted = self.fitted();
        let data = rows_to_encode(x, columns, &fitted.preprocessing.columns)?;
        let (means, sds) = py.detach(|| {
            guarded(|| {
                pdgc::fit::encode(
                    &fitted.model,
                    &fitted.preprocessing,
                    fitted.postprocessing.as_ref(),
                    &data,
                )
                .map_err(data_error)
            })
        })?;
        Ok(match sd {
            true => (numpy(py, means), numpy(py, sds))
                .into_pyobject(py)?
                .into_any(),
            false => numpy(py, means).into_any(),
        })
    }

    /// `n` draws from the fitted generative model: `(Z, X)`, the latents and the decoder's
    /// mean in the data's units.
    #[pyo3(signature = (n, *, seed=0))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
    ) -> PyResult<(Array<'py>, Array<'py>)> {
        if n == 0 {
            return Err(PyValueError::new_err("n must be at least 1"));
        }
        let fitted = self.fitted();
        let (z, x) = py.detach(|| {
            guarded(|| {
                Ok(pdgc::fit::sample(
                    &fitted.model,
                    &fitted.preprocessing,
                    fitted.postprocessing.as_ref(),
                    n,
                    seed,
                ))
            })
        })?;
        Ok((numpy(py, z), numpy(py, x)))
    }

    /// The decoder's mean for latents `Z` (rows × latent dimensions), in the data's units.
    fn decode<'py>(&self, py: Python<'py>, z: &Bound<'py, PyAny>) -> PyResult<Array<'py>> {
        let z = matrix(z)?;
        let fitted = self.fitted();
        let n = fitted.model.spec().n();
        if z.ncols() != n {
            return Err(DataError::new_err(format!(
                "Z has {} columns; the model has {n} latent dimensions",
                z.ncols()
            )));
        }
        // The library's check of an in-memory table: every value finite, named by column.
        let names = (0..n).map(|j| format!("{}{j}", fitted.model.spec().latent.name));
        let z = Table::from_values("Z", names.collect(), z, 1)
            .map_err(data_error)?
            .values;
        let x = py.detach(|| {
            guarded(|| {
                Ok(pdgc::fit::decode(
                    &fitted.model,
                    &fitted.preprocessing,
                    fitted.postprocessing.as_ref(),
                    &z,
                ))
            })
        })?;
        Ok(numpy(py, x))
    }

    /// Writes the fit folder `pdgc fit -o DIR` writes (sources.csv, trace.csv, priors.ron,
    /// run.ron, model.safetensors, report.html, plots/) to `path`, whole or not at all.
    /// An existing `path` is replaced only when it holds an earlier fit.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let folder = self.folder()?;
        if let Err(why) = pdgc::folder::may_replace(&path) {
            return Err(PyOSError::new_err(format!("`{}` {why}", path.display())));
        }
        py.detach(|| guarded(|| folder.write(&path).map_err(write_error)))
    }

    /// Writes the fit's report (one self-contained HTML page) to the file `path`.
    fn report(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let html = self._report_html()?;
        if let Err(why) = pdgc::folder::may_replace_report(&path) {
            return Err(PyOSError::new_err(format!("`{}` {why}", path.display())));
        }
        py.detach(|| {
            guarded(|| {
                pdgc::files::write_file_atomically(&path, html.as_bytes()).map_err(write_error)
            })
        })
    }

    /// The report page's HTML.
    fn _report_html(&self) -> PyResult<String> {
        self.folder()?
            .report_html()
            .map(str::to_string)
            .ok_or_else(|| FolderError::new_err("this fit folder has no report.html"))
    }

    /// The report, inline in a notebook (in a frame, so its styles stay its own).
    fn _repr_html_(&self) -> PyResult<String> {
        let page = self._report_html()?;
        Ok(format!(
            "<iframe srcdoc=\"{}\" style=\"width:100%;height:720px;border:1px solid #ddd\"></iframe>",
            pdgc::report::escape(&page)
        ))
    }

    /// The fitted model as the bytes of `model.safetensors` (`pdgc.from_bytes` reads them
    /// back: a fit that encodes, samples and decodes, without sources or trace).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let bytes = self
            .fitted()
            .to_bytes()
            .map_err(|e| FolderError::new_err(e.to_string()))?;
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    /// The fit as bytes (its folder's files), for pickling.
    fn __getstate__(&self) -> PyResult<Files> {
        match (&self.folder, &self.fitted) {
            (Some(folder), _) => Ok(folder.files.clone()),
            (None, Some(fitted)) => Ok(vec![(
                "model.safetensors".to_string(),
                fitted
                    .to_bytes()
                    .map_err(|e| FolderError::new_err(e.to_string()))?,
            )]),
            (None, None) => unreachable!("a fit holds a model"),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Pickled<'py>)> {
        let py = slf.py();
        let this = slf.get();
        let recovery = this
            .recovery
            .as_ref()
            .map(|r| recovery_dict(py, r))
            .transpose()?;
        let rebuild = py.import("pdgc._pdgc")?.getattr("_fit_from_files")?;
        Ok((rebuild, (this.__getstate__()?, recovery, this.stopped)))
    }

    fn __repr__(&self) -> String {
        let spec = self.fitted().model.spec();
        match &self.folder {
            Some(f) => format!(
                "pdgc.Fit({:?}: {} rows, {} epochs, final loss {:.5}{})",
                spec.name,
                f.record.rows,
                f.view.trace.epochs.len(),
                f.record.final_loss,
                f.record
                    .mcc
                    .map_or(String::new(), |m| format!(", MCC {m:.4}"))
            ),
            None => format!("pdgc.Fit({:?}: model.safetensors only)", spec.name),
        }
    }
}

/// A fit from its folder's files (what pickling a fit keeps).
#[pyfunction]
fn _fit_from_files(
    files: Files,
    recovery: Option<&Bound<'_, PyDict>>,
    stopped: bool,
) -> PyResult<Fit> {
    let recovery = match recovery {
        Some(d) => Some(pdgc::eval::Recovery {
            mcc: d.get_item("mcc")?.map_or(Ok(f64::NAN), |v| v.extract())?,
            mcc_spearman: d
                .get_item("mcc_spearman")?
                .map_or(Ok(f64::NAN), |v| v.extract())?,
            matching: d
                .get_item("matching")?
                .map_or(Ok(Vec::new()), |v| v.extract())?,
            per_source: d
                .get_item("per_source")?
                .map_or(Ok(Vec::new()), |v| v.extract())?,
            abs_corr: d
                .get_item("abs_corr")?
                .map_or(Ok(Vec::new()), |v| v.extract())?,
        }),
        None => None,
    };
    if files.len() == 1 && files[0].0 == "model.safetensors" {
        let fitted = pdgc::fitted::Fitted::from_bytes("model.safetensors", &files[0].1)
            .map_err(|e| FolderError::new_err(e.to_string()))?;
        return Ok(Fit {
            folder: None,
            fitted: Some(fitted),
            recovery,
            stopped,
        });
    }
    let folder = FitFolder::from_files(std::path::Path::new(""), files).map_err(folder_error)?;
    Ok(Fit {
        folder: Some(folder),
        fitted: None,
        recovery,
        stopped,
    })
}

/// A fit from the bytes of a `model.safetensors` file (`Fit.to_bytes`): it encodes,
/// samples and decodes.
#[pyfunction]
fn from_bytes(bytes: Vec<u8>) -> PyResult<Fit> {
    _fit_from_files(vec![("model.safetensors".to_string(), bytes)], None, false)
}

/// Reads a fit: a fit folder (as `pdgc fit` or `Fit.save` wrote it) or a
/// `model.safetensors` file (which encodes, samples and decodes, but holds no sources,
/// trace or report).
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<Fit> {
    py.detach(|| {
        guarded(|| {
            if path.is_dir() {
                let folder = FitFolder::read(&path).map_err(|e| {
                    FolderError::new_err(match e {
                        pdgc::folder::FolderError::Unreadable(why) => {
                            format!("`{}` {why}", path.display())
                        }
                        e => e.to_string(),
                    })
                })?;
                return Ok(Fit {
                    recovery: None,
                    folder: Some(folder),
                    fitted: None,
                    stopped: false,
                });
            }
            let file = path.display().to_string();
            let bytes = std::fs::read(&path)
                .map_err(|e| PyOSError::new_err(format!("cannot read `{file}`: {e}")))?;
            let fitted = pdgc::fitted::Fitted::from_bytes(&file, &bytes)
                .map_err(|e| FolderError::new_err(e.to_string()))?;
            Ok(Fit {
                folder: None,
                fitted: Some(fitted),
                recovery: None,
                stopped: false,
            })
        })
    })
}

// ---------------------------------------------------------------------------------------
// Data, baselines and measures.

/// Simulated data: `(X, S, A)`, the observations (samples × observed), the true sources
/// (samples × sources) and, for `linear`, the mixing matrix (else `None`).
#[pyfunction]
#[pyo3(signature = (scenario, *, samples=5000, seed=0, sources=None, observed=None, layers=None, orthogonal=false, noise=0.0, marginals=None))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    scenario: &str,
    samples: usize,
    seed: u64,
    sources: Option<usize>,
    observed: Option<usize>,
    layers: Option<usize>,
    orthogonal: bool,
    noise: f64,
    marginals: Option<Vec<String>>,
) -> PyResult<(Array<'py>, Array<'py>, Option<Array<'py>>)> {
    use pdgc::simulate::{Marginal, Scenario, Settings};
    let scenario = Scenario::from_name(scenario).ok_or_else(|| {
        PyValueError::new_err(format!(
            "no scenario `{scenario}`; the scenarios are {}",
            Scenario::ALL
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut settings = Settings::new(scenario);
    settings.samples = samples;
    settings.seed = seed;
    settings.orthogonal = orthogonal;
    settings.noise = noise;
    if let Some(n) = sources {
        settings.sources = n;
        settings.observed = n;
    }
    if let Some(m) = observed {
        settings.observed = m;
    }
    if let Some(l) = layers {
        settings.layers = l;
    }
    for name in marginals.unwrap_or_default() {
        settings
            .marginals
            .push(Marginal::from_name(&name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "no marginal `{name}`; the marginals are {}",
                    Marginal::ALL
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?);
    }
    if let Some((flag, why)) = settings.problem() {
        let keyword = flag.trim_start_matches("--").replace('-', "_");
        return Err(PyValueError::new_err(format!("{keyword} {why}")));
    }
    let sim = py.detach(|| guarded(|| Ok(pdgc::simulate::simulate_with(&settings))))?;
    Ok((
        numpy(py, sim.data),
        numpy(py, sim.truth),
        sim.mixing.map(|a| numpy(py, a)),
    ))
}

/// FastICA (the baseline `pdgc fastica` runs): `(S, W)`, the sources (rows × n) and the
/// unmixing matrix (n × columns) in the data's units.
#[pyfunction]
#[pyo3(signature = (x, n_sources=None, *, seed=0))]
fn fastica<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    n_sources: Option<usize>,
    seed: u64,
) -> PyResult<(Array<'py>, Array<'py>)> {
    let data = table("X", x, None, |count| {
        (0..count).map(|c| format!("column {c}")).collect()
    })?;
    pdgc::data::Preprocessing::check_for_fastica("X", &data).map_err(data_error)?;
    let n = n_sources.unwrap_or(data.values.ncols());
    let unmixed = py.detach(|| {
        guarded(|| pdgc::baseline::fastica(&data.values, n, seed).map_err(PyValueError::new_err))
    })?;
    Ok((numpy(py, unmixed.sources), numpy(py, unmixed.unmixing)))
}

/// The recovery of true sources `S` by estimates `Z` (both rows × sources): MCC, Spearman
/// MCC, each source's |corr| and match, the |corr| matrix.
#[pyfunction]
fn recovery<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let (s, z) = (matrix(s)?, matrix(z)?);
    let r = guarded(|| pdgc::eval::recovery(&s, &z).map_err(DataError::new_err))?;
    recovery_dict(py, &r)
}

/// The Amari distance between a mixing matrix `A` and an unmixing matrix `W`: 0 when
/// `W A` is a scaled permutation.
#[pyfunction]
fn amari(a: &Bound<'_, PyAny>, w: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, w) = (matrix(a)?, matrix(w)?);
    if w.ncols() != a.nrows() || w.nrows() != a.ncols() {
        return Err(DataError::new_err(format!(
            "W ({} × {}) cannot unmix A ({} × {}): W must be sources × observed, A observed × sources",
            w.nrows(),
            w.ncols(),
            a.nrows(),
            a.ncols()
        )));
    }
    guarded(|| Ok(pdgc::eval::amari_distance(&w, &a)))
}

/// Every model (and FastICA) fitted to every problem: one dict per run (method, seed, mcc,
/// mcc_spearman, final_loss, seconds, error). `problems` are `(seed, X, S, columns)`.
#[pyfunction]
#[pyo3(signature = (models, problems, *, fastica=true, jobs=1))]
fn _compare<'py>(
    py: Python<'py>,
    models: Vec<(String, PyRef<'py, Model>)>,
    problems: Vec<ProblemArgs<'py>>,
    fastica: bool,
    jobs: usize,
) -> PyResult<Bound<'py, PyList>> {
    use pdgc::compare::{Method, Problem};
    let mut methods: Vec<Method> = models
        .iter()
        .map(|(name, m)| Method::Model {
            name: name.clone(),
            spec: Box::new(m.spec.clone()),
        })
        .collect();
    if fastica {
        methods.push(Method::FastIca);
    }
    let mut list = Vec::new();
    for (seed, x, s, columns) in &problems {
        let default = |count: usize| match models.first() {
            Some((_, m)) => m.spec.observed.names_for(count),
            None => (0..count).map(|c| format!("x{c}")).collect(),
        };
        list.push(Problem {
            seed: *seed,
            data: table("X", x, columns.clone(), default)?,
            truth: matrix(s)?,
        });
    }
    let runs = py.detach(|| {
        guarded(|| {
            pdgc::compare::run_all(&methods, &list, jobs.max(1), &|_| {})
                .map_err(|e| FitError::new_err(e.to_string()))
        })
    })?;
    let out = PyList::empty(py);
    for r in runs {
        let d = PyDict::new(py);
        d.set_item("method", r.method)?;
        d.set_item("seed", r.seed)?;
        d.set_item("mcc", r.mcc)?;
        d.set_item("mcc_spearman", r.mcc_spearman)?;
        d.set_item("final_loss", r.final_loss)?;
        d.set_item("seconds", r.seconds)?;
        d.set_item("error", r.error)?;
        out.append(d)?;
    }
    Ok(out)
}

/// The pdgc version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _pdgc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("FitError", py.get_type::<FitError>())?;
    m.add("FolderError", py.get_type::<FolderError>())?;
    m.add_class::<Model>()?;
    m.add_class::<Fit>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(_fit_from_files, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(fastica, m)?)?;
    m.add_function(wrap_pyfunction!(recovery, m)?)?;
    m.add_function(wrap_pyfunction!(amari, m)?)?;
    m.add_function(wrap_pyfunction!(_compare, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
