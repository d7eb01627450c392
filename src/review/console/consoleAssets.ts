import { readFile } from "node:fs/promises";

/** The page's files, served as they are: plain HTML, CSS and JavaScript, nothing built. */
const ASSETS = {
  "review.html": "text/html; charset=utf-8",
  "review.js": "text/javascript; charset=utf-8",
  "review.css": "text/css; charset=utf-8",
} as const;

export type AssetName = keyof typeof ASSETS;

export interface Asset {
  contentType: string;
  body: Buffer;
}

export const isAssetName = (name: string): name is AssetName => Object.hasOwn(ASSETS, name);

/**
 * Reads the console's files once, at start. `review-ui/` sits at the package's root, three folders
 * above this module both in src/ (tests, tsx) and in dist/ (the published build).
 */
export async function loadAssets(): Promise<Map<AssetName, Asset>> {
  const assets = new Map<AssetName, Asset>();
  for (const [name, contentType] of Object.entries(ASSETS) as Array<[AssetName, string]>) {
    const body = await readFile(new URL(`../../../review-ui/${name}`, import.meta.url));
    assets.set(name, { contentType, body });
  }
  return assets;
}
