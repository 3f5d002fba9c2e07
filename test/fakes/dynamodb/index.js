// Loopback DynamoDB for tests: the real @aws-sdk/client-dynamodb talks to it over HTTP with AWS
// JSON 1.0 (`X-Amz-Target: DynamoDB_20120810.<Op>`, application/x-amz-json-1.0). Only what a lock
// table needs: PutItem, GetItem, UpdateItem (SET), DeleteItem, each with ConditionExpression, and
// the service's error shapes (ConditionalCheckFailedException, ResourceNotFoundException).
import { AwsError, startAwsJsonServer } from '../aws-json-server.js';
import { evaluateCondition } from './condition.js';

const PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/**
 * @param {object} [options]
 * @param {string[]} [options.tables]  tables that exist, each keyed by the string attribute `lease`
 *   (DynamoDB tables are made by the team's IaC, not by keyshift)
 * @param {string} [options.region]
 */
export async function startDynamoDb({ tables = ['keyshift-leases'], hashKey = 'lease', region = 'us-east-1', accountId = '111122223333', quotas = false } = {}) {
  const data = new Map(tables.map((name) => [name, new Map()]));

  function tableOf(input) {
    const table = data.get(input.TableName);
    if (!table) throw new AwsError(`${PREFIX}ResourceNotFoundException`, 'Requested resource not found');
    return table;
  }
  function keyOf(input, item) {
    const key = (item ?? input.Key)?.[hashKey];
    if (!key || typeof key.S !== 'string') throw new AwsError(`${PREFIX}ValidationException`, 'The provided key element does not match the schema');
    return key.S;
  }
  function check(input, current) {
    if (!input.ConditionExpression) return;
    if (!evaluateCondition(input.ConditionExpression, current, input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw new AwsError(`${PREFIX}ConditionalCheckFailedException`, 'The conditional request failed');
    }
  }
  const copy = (item) => (item === undefined ? undefined : structuredClone(item));

  const handlers = {
    PutItem(input) {
      const table = tableOf(input);
      const key = keyOf(input, input.Item);
      check(input, table.get(key));
      const old = table.get(key);
      table.set(key, copy(input.Item));
      return input.ReturnValues === 'ALL_OLD' && old ? { Attributes: copy(old) } : {};
    },
    GetItem(input) {
      const item = tableOf(input).get(keyOf(input));
      return item ? { Item: copy(item) } : {};
    },
    DeleteItem(input) {
      const table = tableOf(input);
      const key = keyOf(input);
      check(input, table.get(key));
      table.delete(key);
      return {};
    },
    UpdateItem(input) {
      const table = tableOf(input);
      const key = keyOf(input);
      const current = table.get(key);
      check(input, current);
      const next = copy(current) ?? { [hashKey]: { S: key } };
      for (const [name, value] of parseSet(input)) next[name] = copy(value);
      table.set(key, next);
      return input.ReturnValues === 'ALL_NEW' ? { Attributes: copy(next) } : {};
    },
  };

  const server = await startAwsJsonServer({
    targetPrefix: 'DynamoDB_20120810',
    service: 'dynamodb',
    accountId,
    handlers,
    quotaClassOf: Object.fromEntries(Object.keys(handlers).map((op) => [op, 'requests'])),
    defaultQuotas: { requests: 1000 },
    quotas,
    internalErrorCode: `${PREFIX}InternalServerError`,
    throttleMessage: 'Rate of requests exceeds the allowed throughput.',
    contentType: 'application/x-amz-json-1.0',
    resourcesOf: (op, input) => [input.TableName],
    signingScope: { region, service: 'dynamodb' },
  });
  return {
    ...server,
    region,
    /** The item of one lease, as stored (attribute-value maps), or undefined. */
    item: (table, key) => copy(data.get(table)?.get(key)),
    /** Put an item as another writer would (e.g. a lease left by a dead runner). */
    putItem: (table, item) => data.get(table).set(item[hashKey].S, copy(item)),
  };
}

/** `SET a = :x, #b = :y`: the only update form a lock table needs. */
function parseSet(input) {
  const match = /^\s*SET\s+(.+)$/i.exec(input.UpdateExpression ?? '');
  if (!match) throw new AwsError(`${PREFIX}ValidationException`, 'Invalid UpdateExpression: only SET is supported by this fake');
  return match[1].split(',').map((part) => {
    const [path, value] = part.split('=').map((s) => s.trim());
    const name = path.startsWith('#') ? input.ExpressionAttributeNames?.[path] : path;
    const attribute = input.ExpressionAttributeValues?.[value];
    if (!name || !attribute) throw new AwsError(`${PREFIX}ValidationException`, `Invalid UpdateExpression: undefined placeholder in "${part.trim()}"`);
    return [name, attribute];
  });
}
