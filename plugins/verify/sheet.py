"""The side-by-side sheet a supervisor looks at to adjudicate a suspected duplicate, and the command
``ektp adjudication show`` that writes it (images are a plugin's business: the core draws nothing).

One row per finger: the enrolment's image on the left, the candidate's on the right, and the matcher's
score for that finger between them. Images come from this node's records, else from the central side.
"""

from __future__ import annotations

import io
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont

from ektp_core.cli.options import deployment_option, fail
from ektp_core.domain.model import FINGER_POSITIONS
from ektp_core.errors import EktpError
from ektp_core.services.verification import VerificationService

#: A finger image larger than this is not decoded (a decompression bomb from a peer must not hurt).
MAX_PIXELS = 4_000_000

_CELL = 240
_LABEL = 210
_MARGIN = 12


def _thumbnail(data: bytes | None) -> Image.Image:
    cell = Image.new("L", (_CELL, _CELL), 235)
    if data is None:
        ImageDraw.Draw(cell).text(
            (_CELL // 2, _CELL // 2), "tidak ada / none", fill=90, anchor="mm", font=ImageFont.load_default(14)
        )
        return cell
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ValueError("image too large")
        image = image.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError):
        ImageDraw.Draw(cell).text(
            (_CELL // 2, _CELL // 2), "rusak / unreadable", fill=90, anchor="mm", font=ImageFont.load_default(14)
        )
        return cell
    image.thumbnail((_CELL, _CELL))
    cell.paste(image, ((_CELL - image.width) // 2, (_CELL - image.height) // 2))
    return cell


def side_by_side(service: VerificationService, enrolment_id: str, candidate_id: str | None = None) -> bytes:
    """A PNG comparing an enrolment in adjudication with one of its candidates (default: the best)."""
    status = service.status(enrolment_id)
    if status is None or status.verdict is None or not status.verdict.candidates:
        raise EktpError(f"enrolment {enrolment_id} has no verdict with candidates to compare")
    candidates = {c.enrolment_id: c for c in status.verdict.candidates}
    if candidate_id is None:
        candidate = max(candidates.values(), key=lambda c: c.score)
    elif candidate_id in candidates:
        candidate = candidates[candidate_id]
    else:
        raise EktpError(f"{candidate_id} is not a candidate of {enrolment_id} (candidates: {', '.join(candidates)})")
    title_font, font = ImageFont.load_default(18), ImageFont.load_default(14)
    header = 60
    width = 2 * _CELL + _LABEL + 2 * _MARGIN
    sheet = Image.new("L", (width, header + len(FINGER_POSITIONS) * (_CELL + _MARGIN)), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (_MARGIN, 8), f"{enrolment_id}  vs  {candidate.enrolment_id} (NIK {candidate.nik})", fill=0, font=title_font
    )
    draw.text((_MARGIN, 34), f"skor gabungan / fused score {candidate.score:g}", fill=0, font=font)
    for row, position in enumerate(FINGER_POSITIONS):
        top = header + row * (_CELL + _MARGIN)
        sheet.paste(_thumbnail(service.finger_image(enrolment_id, position)), (_MARGIN, top))
        sheet.paste(_thumbnail(service.finger_image(candidate.enrolment_id, position)), (_MARGIN + _CELL + _LABEL, top))
        score = candidate.finger_scores.get(position)
        middle = _MARGIN + _CELL + _LABEL // 2
        draw.text((middle, top + _CELL // 2 - 12), position.replace("_", " "), fill=0, font=font, anchor="mm")
        draw.text(
            (middle, top + _CELL // 2 + 12),
            f"skor {score:g}" if score is not None else "skor -",
            fill=0,
            font=font,
            anchor="mm",
        )
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()


@click.command("show")
@click.argument("enrolment_id")
@click.option("--candidate", default=None, help="Candidate enrolment id (default: the best scoring one).")
@click.option(
    "--image",
    "image_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the side-by-side comparison to this PNG file.",
)
@deployment_option
def adjudication_show(enrolment_id: str, candidate: str | None, image_path: Path, deployment_dir: Path | None) -> None:
    """Write the enrolment's fingers and a candidate's side by side, with the scores, to a PNG."""
    from ektp_core.cli.options import verification_service

    with verification_service(deployment_dir) as (_d, _h, service):
        try:
            png = side_by_side(service, enrolment_id, candidate)
        except EktpError as exc:
            fail(str(exc))
    image_path.write_bytes(png)
    click.echo(f"wrote {image_path}")
