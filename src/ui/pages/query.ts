/** Reading a page's URL: its filters (empty fields are no filter) and its place in a paged list. */
import type { Request } from 'express';
import type { PageQuery } from '../../server/admin/request.ts';

const PAGE_SIZE = 50;

/** A query parameter's text, or undefined when absent or empty. */
export function param(source: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = source?.[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

export function pageQuery(req: Request): { page: PageQuery; query: URLSearchParams } {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(req.query)) if (typeof value === 'string' && value !== '') query.set(name, value);
  query.delete('done');
  query.delete('n');
  return { page: { limit: PAGE_SIZE, cursor: param(req.query, 'cursor') }, query };
}
