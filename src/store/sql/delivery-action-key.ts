/** Migration 10, alike in both dialects. */
import type { Migration } from './migration.ts';

export const DELIVERY_ACTION_KEY: Migration = {
  version: 10,
  name: 'delivery_action_key',
  // Which action of its rule a delivery serves, by a stable identity: its params keep placeholders for the action's
  // secrets, filled in from that action at each attempt. Null for deliveries whose params hold no placeholder.
  sql: `
    ALTER TABLE deliveries ADD COLUMN action_key TEXT;
  `,
};
