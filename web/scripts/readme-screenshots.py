"""Copy three of the screens `make e2e` saved (web/e2e/screenshots/screens/) to
docs/screenshots/ for the README: scaled down and reduced to 128 colours, so that each
stays small in the repository. Run with the API's Python (Pillow is one of its
dependencies): `.venv/bin/python web/scripts/readme-screenshots.py`."""

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "web" / "e2e" / "screenshots" / "screens"
TARGET = ROOT / "docs" / "screenshots"
# README name: (screen saved by the e2e run, width in the README's pixels x2 at most)
CHOSEN = {
    "book.png": ("patient-week-calendar-desktop.png", 1000),
    "agenda.png": ("doctor-agenda-week-desktop.png", 1000),
    "appointment-phone.png": ("patient-appointment-phone.png", 360),
}


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, (screen, width) in CHOSEN.items():
        image = Image.open(SCREENS / screen).convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        small = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        small.save(TARGET / name, optimize=True)
        print(f"{name}: {(TARGET / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
