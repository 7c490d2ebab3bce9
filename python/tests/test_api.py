"""The Python API, one test (at least) per public function and per error path."""

from __future__ import annotations

import os
import pathlib
import pickle
import signal
import subprocess
import threading
import time
import _thread

import numpy as np
import pytest

import pdgc
from conftest import MODELS

BAD_MODEL = "observed x[3]\nlatent z[2] ~ gmn(K = 2)\n"


# ---------------------------------------------------------------------------------------
# Models


def test_a_model_compiles_from_text_and_from_a_file(linear_model):
    m = pdgc.Model((MODELS / "linear.pdg").read_text())
    assert m.name == "linear" == linear_model.name
    assert m.observed == ["x0", "x1", "x2"]
    assert m.latents == 3
    assert "latent" in m.to_pdg()
    assert "linear" in repr(m)


def test_a_bad_model_raises_the_diagnostics_pdgc_check_prints(tmp_path, pdgc_bin):
    path = tmp_path / "bad.pdg"
    path.write_text(BAD_MODEL)
    with pytest.raises(pdgc.ModelError) as raised:
        pdgc.Model.from_file(path)
    assert isinstance(raised.value, ValueError)
    cli = subprocess.run([pdgc_bin, "check", str(path)], capture_output=True, text=True)
    assert cli.returncode == 2
    assert str(raised.value) in cli.stderr
    assert "did you mean `gmm`?" in str(raised.value)
    assert f"{path}:2:15" in str(raised.value)


def test_a_bad_model_text_is_named_in_its_diagnostics():
    with pytest.raises(pdgc.ModelError, match="mine.pdg:2:15"):
        pdgc.Model(BAD_MODEL, name="mine.pdg")


def test_a_missing_model_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="cannot read model file"):
        pdgc.Model.from_file(tmp_path / "none.pdg")


def test_a_model_pickles_as_its_text(linear_model):
    again = pickle.loads(pickle.dumps(linear_model))
    assert again.text == linear_model.text and again.name == linear_model.name


# ---------------------------------------------------------------------------------------
# Fitting


def test_a_fit_has_sources_priors_trace_and_recovery(small_fit, linear_data):
    x, s, _ = linear_data
    assert small_fit.sources.shape == (600, 3)
    assert small_fit.sources_sd.shape == (600, 3)
    assert (small_fit.sources_sd > 0).all()
    assert len(small_fit.priors) == 3
    prior = small_fit.priors[0]
    assert prior["family"] == "gmm(K = 3)"
    assert len(prior["weights"]) == 3 and abs(sum(prior["weights"]) - 1) < 1e-6
    trace = small_fit.trace
    assert len(trace["loss"]) == 40
    assert list(trace["epoch"])[-1] == 40
    assert "corr_s0" in trace
    rec = small_fit.recovery
    assert 0 < rec["mcc"] <= 1
    assert len(rec["per_source"]) == 3 and sorted(rec["matching"]) == [0, 1, 2]
    assert rec["mcc"] == pytest.approx(pdgc.mcc(s, small_fit.sources), abs=1e-6)
    assert not small_fit.stopped
    assert small_fit.columns == ["x0", "x1", "x2"]
    assert small_fit.epochs_per_second > 0
    assert "40 epochs" in repr(small_fit)


def test_float32_fortran_order_and_a_list_give_the_same_fit(linear_model, linear_data):
    x, _, _ = linear_data
    x32 = x.astype(np.float32)
    a = linear_model.fit(x32, epochs=5)
    b = linear_model.fit(np.asfortranarray(x32), epochs=5)
    c = linear_model.fit(x32.astype(np.float64).tolist(), epochs=5)
    assert np.array_equal(a.sources, b.sources)
    assert np.array_equal(a.sources, c.sources)


def test_a_dataframe_is_matched_by_column_name():
    pandas = pytest.importorskip("pandas")
    x, _, _ = pdgc.simulate("linear", samples=300, seed=1)
    text = "observed x = [b, a]\nlatent z[2] ~ gmm(K = 2)\ntrain { epochs 5 }\n"
    model = pdgc.Model(text)
    frame = pandas.DataFrame({"a": x[:, 0], "c": x[:, 2], "b": x[:, 1]})
    by_name = model.fit(frame)
    by_order = model.fit(x[:, [1, 0]], columns=["b", "a"])
    assert np.array_equal(by_name.sources, by_order.sources)
    assert by_name.columns == ["b", "a"]
    with pytest.raises(pdgc.DataError, match="no such column"):
        model.fit(frame.drop(columns=["a"]))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x: x.__setitem__((5, 1), np.nan), r"row 5 \(counting from 0\), column `x1` holds NaN"),
        (lambda x: x.__setitem__((9, 2), np.inf), r"row 9 \(counting from 0\), column `x2` holds inf"),
        (lambda x: x.__setitem__((slice(None), 0), 3.0), r"column `x0` is constant"),
    ],
)
def test_bad_data_raise_a_data_error_naming_row_and_column(linear_model, linear_data, change, message):
    x = linear_data[0].copy()
    change(x)
    with pytest.raises(pdgc.DataError, match=message):
        linear_model.fit(x, epochs=2)


def test_too_few_rows_or_columns_or_dimensions_are_data_errors(linear_model, linear_data):
    x = linear_data[0]
    with pytest.raises(pdgc.DataError, match="1 data row; at least two"):
        linear_model.fit(x[:1], epochs=2)
    with pytest.raises(pdgc.DataError, match="the model observes 3"):
        linear_model.fit(x[:, :2], epochs=2)
    with pytest.raises(pdgc.DataError, match="2-D array"):
        linear_model.fit(x[:, 0], epochs=2)
    with pytest.raises(pdgc.DataError, match="2-D array"):
        linear_model.fit([["a", "b", "c"]] * 5, epochs=2)


def test_bad_settings_are_value_errors(linear_model, linear_data):
    x = linear_data[0]
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        linear_model.fit(x, epochs=0)
    with pytest.raises(ValueError, match=r"lr must be a number in \(0, 10\]"):
        linear_model.fit(x, lr=-1.0)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        linear_model.fit(x, threads=0)
    with pytest.raises(pdgc.DataError, match="the truth has 100 rows"):
        linear_model.fit(x, epochs=2, truth=linear_data[1][:100])


def test_a_fit_larger_than_the_memory_is_refused_before_training(linear_data):
    text = "observed x[3]\nlatent z[3] ~ gmm(K = 3)\nencoder { dense 60000 tanh; dense 60000 tanh }\n"
    with pytest.raises(MemoryError, match="needs"):
        pdgc.Model(text).fit(linear_data[0], epochs=1)


def test_a_callback_sees_every_epoch_and_may_stop(linear_model, linear_data):
    seen = []

    def callback(epoch, terms):
        seen.append((epoch, terms["loss"]))
        return epoch < 7

    fit = linear_model.fit(linear_data[0], epochs=50, callback=callback)
    assert [e for e, _ in seen] == list(range(1, 8))
    assert fit.stopped
    assert len(fit.trace["loss"]) == 7
    assert fit.sources.shape == (600, 3)


def test_an_exception_in_the_callback_stops_the_fit_and_is_raised(linear_model, linear_data):
    def callback(epoch, terms):
        raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        linear_model.fit(linear_data[0], epochs=50, callback=callback)


def test_progress_is_written_to_python_stderr(linear_model, linear_data, capsys):
    linear_model.fit(linear_data[0], epochs=10, progress=True)
    err = capsys.readouterr().err
    assert "epoch 10/10" in err and "loss" in err


def test_training_releases_the_gil(linear_model, linear_data):
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        started = time.perf_counter()
        # restarts: epochs without a Python callback in between
        linear_model.fit(linear_data[0], epochs=300)
        ended = time.perf_counter()
    finally:
        done.set()
        thread.join()
    during = [t for t in ticks if started < t < ended]
    # The other thread ran all along: at least a tick per 10 ms of training.
    assert len(during) >= (ended - started) / 0.01, (len(during), ended - started)


@pytest.fixture
def ctrl_c_as_in_a_terminal():
    """Python's own Ctrl-C handler, whatever the test runner was started with: a process
    started in the background by a non-interactive shell (`nohup … &`, some CI runners)
    inherits SIGINT ignored, and Python then installs no handler, so Ctrl-C never reaches
    it (nor a child it starts)."""
    earlier = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    # None: a handler installed from C, which Python cannot put back.
    if earlier is not None:
        signal.signal(signal.SIGINT, earlier)


@pytest.mark.parametrize("restarts", [1, 2])
def test_ctrl_c_stops_a_fit_after_the_current_epoch(
    linear_model, linear_data, restarts, ctrl_c_as_in_a_terminal
):
    text = linear_model.text.replace("seed 0 }", f"seed 0; restarts {restarts} }}")
    model = pdgc.Model(text)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt, match="nothing was kept"):
            model.fit(linear_data[0], epochs=100_000, threads=restarts)
        assert time.perf_counter() - started < 1.5
    finally:
        timer.cancel()


def test_ctrl_c_in_a_python_process_leaves_nothing_behind(tmp_path):
    script = tmp_path / "long.py"
    script.write_text(
        # Python's own Ctrl-C handler, as in a terminal, whatever this runner ignores.
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import pdgc, sys\n"
        f"m = pdgc.Model.from_file({str(MODELS / 'linear.pdg')!r})\n"
        "x, s, _ = pdgc.simulate('linear', samples=600, seed=1)\n"
        "print('start', flush=True)\n"
        "fit = m.fit(x, epochs=100000)\n"
        f"fit.save({str(tmp_path / 'out')!r})\n"
    )
    proc = subprocess.Popen(
        [os.sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "start"
    time.sleep(0.5)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.perf_counter() - sent < 1.0
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.py"]


# ---------------------------------------------------------------------------------------
# Using a fit


def test_encode_sample_and_decode(small_fit, linear_data):
    x = linear_data[0]
    z = small_fit.encode(x[:20])
    assert z.shape == (20, 3)
    z2, sd = small_fit.encode(x[:20], sd=True)
    assert np.array_equal(z, z2) and (sd > 0).all()
    zs, xs = small_fit.sample(50, seed=3)
    assert zs.shape == (50, 3) and xs.shape == (50, 3)
    assert np.array_equal(small_fit.sample(50, seed=3)[1], xs)
    assert small_fit.decode(z).shape == (20, 3)
    with pytest.raises(pdgc.DataError, match="Z has 2 columns"):
        small_fit.decode(z[:, :2])
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(pdgc.DataError, match=r"Z: row 3 \(counting from 0\), column `z1` holds NaN"):
        small_fit.decode(bad)
    with pytest.raises(pdgc.DataError, match=r"X has 2 columns; the model was fitted to 3 \(x0, x1, x2\)"):
        small_fit.encode(x[:, :2])
    assert small_fit.encode(x[:1]).shape == (1, 3)
    with pytest.raises(ValueError, match="at least 1"):
        small_fit.sample(0)


def test_save_writes_the_cli_folder_and_load_reads_it(small_fit, tmp_path):
    out = tmp_path / "fit"
    small_fit.save(out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["sources.csv", "trace.csv", "priors.ron", "run.ron", "model.safetensors", "report.html", "plots"]
    )
    again = pdgc.load(out)
    assert np.array_equal(again.sources, small_fit.sources)
    small_fit.save(out)  # an earlier fit is replaced
    again.save(tmp_path / "copy")
    for name in ["sources.csv", "trace.csv", "priors.ron", "run.ron", "model.safetensors", "report.html"]:
        assert (tmp_path / "copy" / name).read_bytes() == (out / name).read_bytes()
    only_model = pdgc.load(out / "model.safetensors")
    x = np.random.default_rng(0).normal(size=(10, 3))
    assert np.array_equal(only_model.encode(x), small_fit.encode(x))
    with pytest.raises(pdgc.FolderError, match="model.safetensors alone"):
        only_model.sources


def test_save_never_replaces_what_is_not_a_fit(small_fit, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OSError, match="not replaced"):
        small_fit.save(mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    file = tmp_path / "file"
    file.write_text("keep me too")
    with pytest.raises(OSError, match="is a file"):
        small_fit.save(file)
    assert file.read_text() == "keep me too"


def test_load_refuses_what_is_not_a_fit(tmp_path):
    with pytest.raises(pdgc.FolderError, match="run.ron"):
        pdgc.load(tmp_path)
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(pdgc.FolderError, match="not a pdgc fitted model"):
        pdgc.load(bad)
    with pytest.raises(OSError):
        pdgc.load(tmp_path / "none.safetensors")


def test_a_folder_the_cli_wrote_loads(pdgc_bin, tmp_path, linear_data):
    x, s, _ = linear_data
    data = tmp_path / "data.csv"
    np.savetxt(data, x, delimiter=",", header="x0,x1,x2", comments="", fmt="%.17g")
    out = tmp_path / "cli"
    subprocess.run(
        [pdgc_bin, "fit", str(MODELS / "linear.pdg"), str(data), "-o", str(out), "--epochs", "5", "--quiet"],
        check=True,
    )
    fit = pdgc.load(out)
    assert fit.sources.shape == (600, 3)
    assert len(fit.trace["loss"]) == 5
    assert "<html" in fit._repr_html_() or "&lt;html" in fit._repr_html_()


def test_report_and_inline_html(small_fit, tmp_path):
    page = tmp_path / "report.html"
    small_fit.report(page)
    text = page.read_text()
    assert "<svg" in text and "linear" in text
    html = small_fit._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "&lt;svg" in html
    small_fit.report(page)  # an earlier report is replaced
    with pytest.raises(OSError, match="not a file of its own"):
        small_fit.report(tmp_path)
    mine = tmp_path / "notes.html"
    mine.write_text("<p>mine</p>")
    with pytest.raises(OSError, match="is not a pdgc report"):
        small_fit.report(mine)
    assert mine.read_text() == "<p>mine</p>"


def test_a_fit_pickles_whole_and_to_bytes_keeps_the_model(small_fit):
    again = pickle.loads(pickle.dumps(small_fit))
    assert np.array_equal(again.sources, small_fit.sources)
    assert again.recovery["mcc"] == small_fit.recovery["mcc"]
    model_only = pdgc.from_bytes(small_fit.to_bytes())
    assert np.array_equal(model_only.decode(small_fit.sources[:5]), small_fit.decode(small_fit.sources[:5]))
    with pytest.raises(pdgc.FolderError):
        pdgc.from_bytes(b"junk")
    files = dict(small_fit.__getstate__())
    files["../escape.txt"] = b"x"
    with pytest.raises(pdgc.FolderError, match="not a file of a fit folder"):
        pdgc._pdgc._fit_from_files(list(files.items()), None, False)


# ---------------------------------------------------------------------------------------
# The same numbers as the command line


def test_a_python_fit_gives_the_cli_sources_byte_for_byte(pdgc_bin, tmp_path):
    x, _, _ = pdgc.simulate("moebius", samples=400, seed=11)
    data = tmp_path / "data.csv"
    # Written so the CLI reads back exactly these doubles.
    np.savetxt(data, x, delimiter=",", header="x0,x1,x2", comments="", fmt="%.17g")
    model = MODELS / "nonlinear.pdg"
    cli = tmp_path / "cli"
    subprocess.run(
        [pdgc_bin, "fit", str(model), str(data), "-o", str(cli), "--epochs", "30", "--seed", "5", "--quiet", "--no-plots"],
        check=True,
    )
    fit = pdgc.Model.from_file(model).fit(x, epochs=30, seed=5)
    py = tmp_path / "py"
    fit.save(py)
    for name in ["sources.csv", "trace.csv", "priors.ron", "model.safetensors"]:
        assert (py / name).read_bytes() == (cli / name).read_bytes(), name


# ---------------------------------------------------------------------------------------
# Data, baselines, measures, comparisons


def test_simulate_gives_data_truth_and_the_linear_mixing():
    x, s, a = pdgc.simulate("linear", samples=100, seed=2)
    assert x.shape == (100, 3) and s.shape == (100, 3) and a.shape == (3, 3)
    assert np.allclose(x, s @ a.T, atol=1e-9)
    x2, s2, none = pdgc.simulate("mlp", samples=50, seed=2, sources=4, orthogonal=True, marginals=["gaussian"])
    assert x2.shape == (50, 4) and none is None
    assert np.array_equal(pdgc.simulate("moebius", samples=30, seed=4)[0], pdgc.simulate("moebius", samples=30, seed=4)[0])


def test_simulate_refuses_unknown_names_and_bad_sizes():
    with pytest.raises(ValueError, match="no scenario `mobius`"):
        pdgc.simulate("mobius")
    with pytest.raises(ValueError, match="no marginal `gauss`"):
        pdgc.simulate("mlp", marginals=["gauss"])
    with pytest.raises(ValueError, match="sources"):
        pdgc.simulate("mlp", sources=0)


def test_fastica_mcc_and_amari(linear_data):
    x, s, a = linear_data
    sources, unmixing = pdgc.fastica(x, seed=1)
    assert sources.shape == (600, 3) and unmixing.shape == (3, 3)
    assert pdgc.mcc(s, sources) > 0.99
    assert pdgc.amari(a, unmixing) < 0.05
    assert pdgc.recovery(s, sources)["mcc_spearman"] > 0.98
    assert pdgc.fastica(x, 2)[0].shape == (600, 2)
    with pytest.raises(pdgc.DataError, match="constant"):
        pdgc.fastica(np.ones((10, 3)))
    with pytest.raises(ValueError, match="at most"):
        pdgc.fastica(x, 5)
    with pytest.raises(pdgc.DataError, match="cannot unmix"):
        pdgc.amari(a, unmixing[:2])
    with pytest.raises(pdgc.DataError):
        pdgc.recovery(s, sources[:10])


def test_compare_on_a_scenario_and_on_given_data(linear_model):
    rows = pdgc.compare([("lin", linear_model)], scenario="linear", seeds=2, samples=300)
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert [(r["method"], r["seed"]) for r in rows] == [("lin", 0), ("fastica", 0), ("lin", 1), ("fastica", 1)]
    assert all(r["error"] is None and r["mcc"] > 0.5 for r in rows)
    x, s, _ = pdgc.simulate("linear", samples=300, seed=9)
    given = pdgc.compare([MODELS / "linear.pdg"], x, truth=s, seeds=[3], fastica=False, jobs=2)
    given = given.to_dict("records") if hasattr(given, "to_dict") else given
    assert [(r["method"], r["seed"]) for r in given] == [("linear", 3)]
    with pytest.raises(ValueError, match="either X and truth, or a scenario"):
        pdgc.compare([linear_model])
    with pytest.raises(ValueError, match="needs its truth"):
        pdgc.compare([linear_model], x)


def test_every_public_name_has_a_docstring():
    for name in pdgc.__all__:
        assert getattr(pdgc, name).__doc__, name
    for cls in [pdgc.Model, pdgc.Fit]:
        for attr in dir(cls):
            if not attr.startswith("_"):
                assert getattr(cls, attr).__doc__, f"{cls.__name__}.{attr}"
    assert "callback" in pdgc.Model.fit.__doc__
