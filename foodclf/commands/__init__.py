"""One module per ``foodclf`` subcommand: its options (argparse) and what it prints. The work
itself is done by the stage's subpackage; these modules only parse, call and print."""
