/** How the list commands print a page of the admin API's answer: JSON, or a table and where the next page starts. */
import { table } from './table.ts';

export interface Listing<Row> {
  /** The API's results as they came, printed whole with --json. */
  results: { next_cursor: string | null };
  rows: Row[];
  json: boolean;
  /** What is printed when the page is empty: `no deliveries`. */
  empty: string;
  header: string[];
  row(item: Row): string[];
}

export function printListing<Row>({ results, rows, json, empty, header, row }: Listing<Row>): number {
  if (json) {
    console.log(JSON.stringify(results, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    console.log(empty);
    return 0;
  }
  console.log(table([header, ...rows.map(row)]));
  if (results.next_cursor) console.log(`\nmore: --cursor ${results.next_cursor}`);
  return 0;
}

/** Prints the API's results as JSON with --json, else what `text` makes of them. */
export function printResult<T>(results: T, json: boolean, text: (results: T) => string): number {
  console.log(json ? JSON.stringify(results, null, 2) : text(results));
  return 0;
}

/** The query string of the options that are set. */
export function queryOf(options: Record<string, string | undefined>): URLSearchParams {
  return new URLSearchParams(Object.entries(options).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
