"""``ektp papers``: print a resident's papers, check one, and publish or import the regency's keys."""

from __future__ import annotations

import json
from pathlib import Path

import click
from ektp_plugins.papers.reading import is_pdf, statement_of_pdf
from ektp_plugins.papers.render import WIDTHS, render_pdf

from ektp_core.cli.options import deployment_option, echo_json, fail, services
from ektp_core.errors import EktpError
from ektp_core.keys.paper_statements import NotGenuine, PaperKind
from ektp_core.services.papers import CheckResult, PaperService

#: Exit status of ``ektp papers check`` for a paper that is not genuine (0: genuine).
NOT_GENUINE = 1
#: Largest file ``ektp papers keys --import`` reads.
MAX_KEYS_FILE = 2 * 1024 * 1024


@click.group("papers")
def papers_group() -> None:
    """Papers for the resident: bukti perekaman, tanda terima, Suket; checking them; the regency's keys."""


def _issue_command(kind: PaperKind, name: str, what: str) -> click.Command:
    @click.command(
        name,
        help=f"Write the {what} of enrolment ID as a one-page PDF (issued on first use, then the same paper again).",
    )
    @click.argument("enrolment_id")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The PDF file.")
    @click.option("--width", type=click.Choice(WIDTHS), default="a4", show_default=True, help="A4, or 80 mm receipt.")
    @click.option("--as", "actor", required=True, help="The account issuing the paper (audited).")
    @deployment_option
    def command(enrolment_id: str, out: Path, width: str, actor: str, deployment_dir: Path | None) -> None:
        with services(deployment_dir) as (_deployment, _host, lifecycle):
            service = PaperService(lifecycle)
            try:
                issued = service.issue(kind, enrolment_id, actor=actor)
                data = render_pdf(service.view(issued.number), width=width)
            except EktpError as exc:
                fail(str(exc))
        out.write_bytes(data)
        again = "" if issued.new else " (issued before: the same paper again)"
        click.echo(f"{kind.value} {issued.number}{again} -> {out} ({len(data)} bytes)")

    return command


papers_group.add_command(_issue_command(PaperKind.PROOF, "proof", "proof of recording (bukti perekaman)"))
papers_group.add_command(_issue_command(PaperKind.RECEIPT, "receipt", "handover receipt (tanda terima)"))
papers_group.add_command(_issue_command(PaperKind.SUKET, "suket", "Surat Keterangan pengganti KTP-el (Suket)"))


def statement_from(argument: str) -> str:
    """The statement text a check is given: a PDF's embedded statement, a text file's content, or the
    argument itself (a QR code's text)."""
    path = Path(argument)
    try:
        is_file = len(argument) < 1024 and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        return argument
    with path.open("rb") as fh:
        data = fh.read(6 * 1024 * 1024)
    if is_pdf(data):
        return statement_of_pdf(data)
    return data[:8192].decode("utf-8", errors="replace")


@papers_group.command("check")
@click.argument("paper")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: genuine, reason, what it certifies.")
@deployment_option
def check_command(paper: str, as_json: bool, deployment_dir: Path | None) -> None:
    """Check a paper: PAPER is its PDF file, or the text of its QR code. Verified offline against the
    regency's published keys known here. Exit 0: genuine; 1: not genuine (the reason is said)."""
    with services(deployment_dir) as (_deployment, _host, lifecycle):
        service = PaperService(lifecycle)
        failure: NotGenuine | None = None
        result: CheckResult | None = None
        try:
            text = statement_from(paper)
        except NotGenuine as exc:
            failure = exc
        else:
            try:
                result = service.check(text)
            except EktpError as exc:
                fail(str(exc))
    if failure is not None:
        if as_json:
            echo_json({"genuine": False, "reason": failure.reason.value, "message": str(failure), "statement": None})
        else:
            click.echo(f"NOT GENUINE: {failure}")
        raise SystemExit(NOT_GENUINE)
    assert result is not None
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(("GENUINE: " if result.genuine else "NOT GENUINE: ") + str(result.message))
        if result.statement is not None:
            for key, value in result.statement.to_json().items():
                if value is not None:
                    click.echo(f"  {key}: {value}")
    if not result.genuine:
        raise SystemExit(NOT_GENUINE)


@papers_group.command("keys")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="At the Dukcapil node: write them here.")
@click.option(
    "--import",
    "import_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="At a site: import the Dukcapil node's file (checked against its pinned keys).",
)
@click.option("--as", "actor", default=None, help="The supervisor importing the keys (audited).")
@deployment_option
def keys_command(out: Path | None, import_file: Path | None, actor: str | None, deployment_dir: Path | None) -> None:
    """The regency's published signing keys, which papers are checked against. At the Dukcapil node,
    ``--out FILE`` writes them (every node's key, signed by the Dukcapil node); at a site,
    ``--import FILE --as SUPERVISOR`` keeps them. Without an option: list the keys trusted here."""
    if out is not None and import_file is not None:
        fail("give --out or --import, not both")
    with services(deployment_dir) as (_deployment, _host, lifecycle):
        service = PaperService(lifecycle)
        try:
            if out is not None:
                document = service.export_keys()
                out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
                click.echo(f"{len(document['body']['keys'])} keys of the regency -> {out}")
                return
            if import_file is not None:
                if actor is None:
                    fail("--import needs --as SUPERVISOR")
                if import_file.stat().st_size > MAX_KEYS_FILE:
                    fail(f"{import_file} is larger than {MAX_KEYS_FILE} bytes: not a published-keys file")
                try:
                    document = json.loads(import_file.read_text("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    fail(f"{import_file} is not a published-keys file ({exc})")
                count = service.import_keys(document, actor=actor)
                click.echo(f"imported {count} keys of the regency from {import_file}")
                return
            keys = service.trusted_keys()
        except EktpError as exc:
            fail(str(exc))
    for key in keys:
        until = f" until {key.until.isoformat()}" if key.until else ""
        click.echo(f"{key.site}\t{key.kid}\t{key.key}{until}")
