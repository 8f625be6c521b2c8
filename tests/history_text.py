"""history.csv's numbers without its seconds column: the one column that differs between two runs of one command
(timings), so a resumed run's file is compared with the uninterrupted one's on everything else."""

from pathlib import Path


def history_numbers(path: Path) -> str:
    """The text of a history.csv file with its last column, ``seconds``, cut from every line."""
    lines = Path(path).read_text().splitlines()
    assert lines[0].endswith(",seconds"), lines[0]
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)
