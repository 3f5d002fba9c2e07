import type * as DDB from '@aws-sdk/client-dynamodb';
import type { Log } from '../../log.js';
import type { LockSpec } from '../../policy/lock-schema.js';
import type { AwsOverrides } from '../aws/client-config.js';
import { LockTable } from './lock-table.js';

/** Loaded only when a store names `lock: { type: dynamodb }`: the DynamoDB SDK comes with it. */
export async function openLockTable(spec: LockSpec, context: { env: NodeJS.ProcessEnv; log: Log; aws: AwsOverrides }): Promise<LockTable> {
  // The SDK is CommonJS: bundled, its exports arrive as `default`; unbundled (tests of dist/), as names.
  const loaded = (await import('@aws-sdk/client-dynamodb')) as Partial<typeof DDB> & { default?: typeof DDB };
  const sdk = (loaded.DynamoDBClient ? loaded : loaded.default) as typeof DDB;
  return new LockTable(spec, context, sdk);
}

export type { LockTable };
