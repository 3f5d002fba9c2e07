import { randomUUID } from 'node:crypto';
import type * as DDB from '@aws-sdk/client-dynamodb';
import type { Log } from '../../log.js';
import type { LockSpec } from '../../policy/lock-schema.js';
import type { EntryLease, LeaseOptions } from '../contract.js';
import { clientConfig, quietClient, type AwsOverrides } from '../aws/client-config.js';
import { awsErrorName, toKeyshiftError } from '../aws/errors.js';
import { diedHere, keepAlive, leaseHeld } from '../aws/lease.js';

const IAM_DOC = 'docs/stores/dynamodb-lock.md#iam';

/**
 * A DynamoDB lock table holding the leases of every store that names it (docs/stores/dynamodb-lock.md),
 * like Terraform's S3 backend. One item per lease, keyed by the string attribute `lease`:
 * take = PutItem if absent or expired; renew = UpdateItem if still ours; release = DeleteItem if
 * still ours. Each is one conditional write, which DynamoDB applies atomically.
 */
export class LockTable {
  readonly #client: DDB.DynamoDBClient;
  readonly #sdk: typeof DDB;
  readonly #table: string;
  readonly #log: Log;

  constructor(spec: LockSpec, context: { env: NodeJS.ProcessEnv; log: Log; aws: AwsOverrides }, sdk: typeof DDB) {
    this.#sdk = sdk;
    this.#table = spec.table;
    this.#log = context.log;
    // The store's --endpoint-url is not the table's: only the lock's own endpoint or AWS_ENDPOINT_URL_DYNAMODB.
    const config = clientConfig(spec, { region: context.aws.region, profile: context.aws.profile }, context.env);
    this.#client = quietClient(() => new sdk.DynamoDBClient(config), context.log);
  }

  /** Take the lease `name` for `options.ttlMs`, renewed while held; ERR_LEASED if someone else's is live. */
  async lease(name: string, what: string, options: LeaseOptions): Promise<EntryLease> {
    const token = randomUUID();
    const now = Date.now();
    const put = (condition: string, values: Record<string, { S: string } | { N: string }>, names: Record<string, string>) =>
      this.#client.send(
        new this.#sdk.PutItemCommand({
          TableName: this.#table,
          Item: { lease: { S: name }, holder: { S: options.holder }, token: { S: token }, expires: { N: String(now + options.ttlMs) } },
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    try {
      await put('attribute_not_exists(#lease) OR #expires < :now', { ':now': { N: String(now) } }, { '#lease': 'lease', '#expires': 'expires' });
    } catch (error) {
      if (awsErrorName(error) !== 'ConditionalCheckFailedException') throw this.#error(error, `PutItem ${name}`);
      const held = await this.#held(name, what);
      // Our own put, whose reply was lost and whose retry failed its condition: the token is ours.
      if (held.item?.token === token) return this.#kept(name, token, options);
      // A holder that died on this host: take its lease over now, only if it is still that one's.
      if (!held.item || !diedHere(held.item.holder)) throw held.error;
      await put('#token = :dead', { ':dead': { S: held.item.token } }, { '#token': 'token' }).catch(async (again: unknown) => {
        throw awsErrorName(again) === 'ConditionalCheckFailedException' ? (await this.#held(name, what)).error : this.#error(again, `PutItem ${name}`);
      });
    }
    return this.#kept(name, token, options);
  }

  /** A lease we hold: renewed while it lives, released at the end, both only while it is still ours. */
  #kept(name: string, token: string, options: LeaseOptions): EntryLease {
    const mine = { ExpressionAttributeNames: { '#token': 'token' }, ConditionExpression: '#token = :token' };
    return keepAlive(
      async (expires) => {
        await this.#client.send(
          new this.#sdk.UpdateItemCommand({
            TableName: this.#table,
            Key: { lease: { S: name } },
            UpdateExpression: 'SET #expires = :expires',
            ConditionExpression: mine.ConditionExpression,
            ExpressionAttributeNames: { ...mine.ExpressionAttributeNames, '#expires': 'expires' },
            ExpressionAttributeValues: { ':token': { S: token }, ':expires': { N: String(expires) } },
          }),
        );
      },
      options.ttlMs,
      (error) => this.#log.error({ lease: name, err: awsErrorName(error) }, 'could not renew the lease: another runner may take it over when it expires'),
      async () => {
        try {
          await this.#client.send(
            new this.#sdk.DeleteItemCommand({ TableName: this.#table, Key: { lease: { S: name } }, ...mine, ExpressionAttributeValues: { ':token': { S: token } } }),
          );
        } catch (error) {
          // Taken over after it expired: the item is someone else's now, and stays.
          if (awsErrorName(error) !== 'ConditionalCheckFailedException') throw this.#error(error, `DeleteItem ${name}`);
        }
      },
    );
  }

  close(): void {
    this.#client.destroy();
  }

  async #held(name: string, what: string): Promise<{ error: Error; item: { holder: string; token: string } | null }> {
    try {
      const { Item } = await this.#client.send(new this.#sdk.GetItemCommand({ TableName: this.#table, Key: { lease: { S: name } }, ConsistentRead: true }));
      const item = Item?.holder?.S && Item.token?.S ? { holder: Item.holder.S, token: Item.token.S } : null;
      return { error: leaseHeld(what, Item?.holder?.S ?? null, Item?.expires?.N ? Number(Item.expires.N) : null), item };
    } catch (error) {
      return { error: this.#error(error, `GetItem ${name}`), item: null };
    }
  }

  #error(error: unknown, what: string): Error {
    return toKeyshiftError(error, { what: `lock table ${this.#table}: ${what}`, service: 'DynamoDB', iamDoc: IAM_DOC });
  }
}
