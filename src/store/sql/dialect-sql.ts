/** What one dialect's store and its transactions share: the statements and row decoders, built once per dialect. */
import type { Dialect } from './dialect.ts';
import { pictureStatements, type PictureStatements } from './live-picture.ts';
import { rowDecoders, type RowDecoders } from './rows.ts';
import { statements, type Statements } from './statements.ts';

export interface DialectSql {
  dialect: Dialect;
  sql: Statements;
  rows: RowDecoders;
  picture: PictureStatements;
}

export function dialectSql(dialect: Dialect): DialectSql {
  return { dialect, sql: statements(dialect), rows: rowDecoders(dialect), picture: pictureStatements(dialect) };
}
