"""mlp-twins predict, and the parameter files it reads: one pickle-free format that both twins
load into the same network, MNIST's digits as PNG files read as the network reads them in
memory, and one line for whatever cannot be read."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

import scratch
import torch_ref
from experiments.analysis import best_params
from tests.helpers import cli, one_line_error
from tests.test_drawn_digits import png_header


@pytest.fixture(scope="module")
def folder(reference):
    return reference[1]


def test_a_parameter_file_rebuilds_the_same_network_in_both_twins(folder, sample):
    path = best_params(folder)
    with np.load(path, allow_pickle=False) as f:  # plain arrays and text, no pickle
        assert {"W1", "b1", "W3", "b3", "activation", "loss", "run_id", "impl", "epoch", "config"} <= set(f.files)
        run_id, epoch = str(f["run_id"]), int(f["epoch"])
    assert path.name == f"{run_id}-scratch-best.npz"
    net, twin = scratch.Network.load(path), torch_ref.TwinNet.load(path)
    assert net.sizes == [784, 16, 16, 10] and net.dtype == np.float64
    x = sample.arrays("float64")["test"].x[:50]
    ours = net.logits(x)
    theirs = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    import pandas as pd
    runs = pd.read_csv(folder / "runs.csv")
    assert epoch == int(runs[(runs.run_id == run_id) & (runs.impl == "scratch")].best_epoch.iloc[0])


def test_mnist_digits_as_png_files_are_read_as_the_network_reads_them_in_memory(folder, sample, tmp_path):
    """Twenty test digits saved as 8-bit PNG: predict's digits and outputs are those of the chosen
    network's forward pass on the digits' own pixels (prepare leaves an MNIST digit as it is)."""
    images = sample.test_images[:20]
    paths = []
    for k, image in enumerate(images):
        paths.append(tmp_path / f"digit-{k}.png")
        Image.fromarray(image.reshape(28, 28)).save(paths[-1])
    done = cli("predict", *paths, "--model", folder, "--format", "csv")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.strip().splitlines()
    assert header == "image,prediction," + ",".join(f"a{k}" for k in range(10)) and len(rows) == 20
    net = scratch.Network.load(best_params(folder))
    outputs = net.forward(images / 255.0)[1][-1]
    same = 0
    for row, expected in zip(rows, outputs, strict=True):
        values = np.array([float(v) for v in row.split(",")[2:]])
        same += np.allclose(values, expected, rtol=0, atol=1e-12)
        assert int(row.split(",")[1]) == int(np.argmax(values))
    assert same >= 19  # all but a digit MNIST itself cut at the frame's edge (test_drawn_digits.py)


def test_show_draws_what_the_network_saw(folder, sample, tmp_path):
    Image.fromarray(sample.test_images[0].reshape(28, 28)).save(tmp_path / "digit.png")
    done = cli("predict", tmp_path / "digit.png", "--model", folder, "--show", tmp_path / "seen.png")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "seen.png").size[0] > 500


def test_images_of_one_name_in_two_folders_keep_both_drawings_and_odd_names_stay_csv(folder, sample, tmp_path):
    paths = [tmp_path / "a" / "7, then 1.png", tmp_path / "b" / "7, then 1.png"]
    for k, path in enumerate(paths):
        path.parent.mkdir()
        Image.fromarray(sample.test_images[k].reshape(28, 28)).save(path)
    done = cli("predict", *paths, "--model", folder, "--format", "csv", "--show", tmp_path / "seen.png")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("seen-*.png")) == ["seen-1-7, then 1.png", "seen-2-7, then 1.png"]
    import pandas as pd
    table = pd.read_csv(io.StringIO(done.stdout))
    assert list(table.image) == [str(p) for p in paths] and table.shape == (2, 12)


@pytest.mark.parametrize("what", ["unreadable", "blank", "huge", "not a results folder", "a damaged parameter file"])
def test_what_predict_cannot_read_is_one_line(folder, tmp_path, what):
    image = tmp_path / "image.png"
    Image.fromarray(np.full((28, 28), 255, np.uint8) if what == "blank" else
                    (np.arange(784).reshape(28, 28) % 255).astype(np.uint8)).save(image)
    model = folder
    if what == "unreadable":
        image.write_bytes(b"not an image at all")
    elif what == "huge":
        image.write_bytes(png_header(100_000, 100_000))
    elif what == "not a results folder":
        model = tmp_path / "elsewhere"
        model.mkdir()
    elif what == "a damaged parameter file":
        model = tmp_path / "broken.npz"
        buf = io.BytesIO()
        np.savez(buf, W1=np.zeros((3, 3)))
        model.write_bytes(buf.getvalue())
    one_line_error(cli("predict", image, "--model", model), str(model if "folder" in what or "parameter" in what
                                                                else image))
