/** The dashboard's stylesheet and script, read from the package once and served from /ui/assets/. */
import { readFileSync } from 'node:fs';
import type { Request, Response } from 'express';

const TYPES: Record<string, string> = {
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
};
const CONTENT = new Map(Object.keys(TYPES).map((name) => [name, readFileSync(new URL(`./assets/${name}`, import.meta.url))]));

export function serveAsset(req: Request, res: Response): void {
  const name = String(req.params.file);
  const content = CONTENT.get(name);
  if (!content) {
    res.status(404).type('text/plain').send('no such asset');
    return;
  }
  res.set('Cache-Control', 'no-cache').type(TYPES[name]).send(content);
}
