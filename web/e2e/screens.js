// What every screen is held to: at desktop and phone widths, axe-core finds no serious or
// critical accessibility violation and nothing overflows the page sideways; a screenshot
// of each width is saved (e2e/screenshots/screens/, an artifact, not committed).
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { SCREENSHOTS } from "./harness.js";

export const WIDTHS = { desktop: { width: 1280, height: 860 }, phone: { width: 360, height: 780 } };
const FOLDER = path.join(SCREENSHOTS, "screens");

/** The violations axe reports as serious or critical on the page as it is now. */
export async function seriousViolations(page) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** How far the page is wider than its viewport, in CSS pixels (0: no sideways scroll). */
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * Check the screen `page` shows at both widths: `ready` (optional) is awaited after each
 * resize, before the check, for a screen that lays out again. Restores the first size.
 */
export async function checkScreen(page, name, { ready } = {}) {
  await mkdir(FOLDER, { recursive: true });
  const before = page.viewportSize();
  try {
    for (const [width, size] of Object.entries(WIDTHS)) {
      await page.setViewportSize(size);
      if (ready) await ready(page);
      assert.deepEqual(await seriousViolations(page), [], `${name} at ${width} width: accessibility`);
      assert.equal(await horizontalOverflow(page), 0, `${name} at ${width} width: the page scrolls sideways`);
      await page.screenshot({ path: path.join(FOLDER, `${name}-${width}.png`) });
    }
  } finally {
    if (before) await page.setViewportSize(before);
  }
}
