"""The README's screenshot of the latent explorer, ``docs/explorer.png``, taken on a trained run.

    python tools/explorer_screenshot.py [--model_dir results/compressed/runs/cnn_beta_vae/beta=1/seed=0]
        [--index 812345] [--out docs/explorer.png]

Serves the run with :mod:`benchmarks.explorer.app`, opens the page in Debian's headless ``chromium`` through
Playwright (``apt-get install -y chromium``; Playwright cannot download a browser here), picks melody
``--index`` (by default one the run reconstructs exactly), moves the most informative dimension's slider
to the end of its range, and saves the page. The run's files are only read.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def screenshot(model_dir: str, index: int, out: str) -> None:
    from playwright.sync_api import sync_playwright

    from benchmarks.explorer import app as explore
    from dmelodies_tfds.atomic import atomic_path

    with explore.running(explore.Explorer(model_dir)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}?index={index}")
        page.wait_for_selector(f"#start[data-index='{index}']")
        before = page.get_attribute("#decoded", "data-code")
        page.focus("#active-sliders input[type=range]")  # the first: the most informative dimension
        page.keyboard.press("End")
        page.wait_for_function("before => { const s = document.querySelector('#decoded');"
                               " return !s.hasAttribute('data-busy') && s.dataset.code !== before; }", arg=before)
        page.evaluate("document.activeElement.blur()")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with atomic_path(out) as temporary:
            page.screenshot(path=temporary)
        browser.close()
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default="results/compressed/runs/cnn_beta_vae/beta=1/seed=0")
    parser.add_argument("--index", type=int, default=812345, help="the start melody")
    parser.add_argument("--out", default="docs/explorer.png")
    args = parser.parse_args()
    screenshot(args.model_dir, args.index, args.out)


if __name__ == "__main__":
    main()
