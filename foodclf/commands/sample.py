"""Write the embedded sample dataset: foodclf sample OUT [--per-class N]."""
import argparse

from foodclf.data.sample import DEFAULT_COUNTS, make_sample


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="folder to write training/, validation/ and evaluation/ into")
    parser.add_argument("--train", type=int, default=DEFAULT_COUNTS["training"], help="images per class in training/")
    parser.add_argument("--val", type=int, default=DEFAULT_COUNTS["validation"], help="images per class in validation/")
    parser.add_argument("--eval", type=int, default=DEFAULT_COUNTS["evaluation"],
                        help="images per class in evaluation/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = make_sample(args.out, {"training": args.train, "validation": args.val, "evaluation": args.eval}, args.seed)
    print(f"sample dataset written to {out}")
    return 0
