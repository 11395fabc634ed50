"""mlp-twins predict: a trained network reads digits from PNG or JPEG files."""
import argparse
from pathlib import Path

from experiments.errors import UsageError
from experiments.tools.predict import OUTPUT_KIND, csv_text, load_model, read, text_lines


def add_parsers(sub) -> None:
    p = sub.add_parser("predict", help="read digits from images with a trained network")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files of digits, drawn or scanned")
    p.add_argument("--model", required=True, metavar="FOLDER_OR_FILE",
                   help="a results folder (its network chosen on validation, at its best epoch) or a parameter file")
    p.add_argument("--run", default=None, metavar="RUN_ID",
                   help="with a folder: this run instead of the chosen one (default: the chosen one)")
    p.add_argument("--format", default="text", choices=("text", "csv"),
                   help="text, or csv: image,prediction,a0,...,a9 (default: text)")
    p.add_argument("--show", default=None, metavar="OUT.png",
                   help="draw what the network saw and each layer's activations, as the videos do; OUT-<image>.png "
                        "for several images, numbered when two share a name (default: off)")
    p.set_defaults(command_fn=predict)


def show_paths(show: str, images: list[str]) -> list[Path]:
    out = Path(show)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--show {show}: give a file name ending in .png")
    if len(images) == 1:
        return [out]
    stems = [Path(image).stem for image in images]
    if len(set(stems)) < len(stems):  # a/1.png and b/1.png: numbered, so that neither drawing replaces the other
        stems = [f"{i}-{stem}" for i, stem in enumerate(stems, 1)]
    return [out.with_name(f"{out.stem}-{stem}.png") for stem in stems]


def predict(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.run)
    shows = show_paths(args.show, args.images) if args.show else []
    predictions = [read(image, model.network) for image in args.images]  # every image read before anything shows
    loss = model.network.loss.name
    if args.format == "csv":
        print(csv_text(predictions), end="")
    else:
        print(f"{model.source}; outputs: {OUTPUT_KIND[loss]}")
        print("\n".join(text_lines(predictions, loss)))
    if shows:
        from experiments.analysis.plots import reading  # matplotlib: only --show needs it
        for prediction, path in zip(predictions, shows, strict=True):
            reading(model.network, prediction.input.ravel(), f"{prediction.image.name}, as the network sees it",
                    f"Read as a {prediction.digit}", path)
            if args.format == "text":
                print(f"wrote {path}")
    return 0
