// The DynamoDB fake through the real @aws-sdk/client-dynamodb (JSON 1.0): conditional writes as a
// lock table uses them, and the service's error shapes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDBClient, PutItemCommand, GetItemCommand, DeleteItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { TEST_CREDENTIALS } from '../clients.js';
import { startDynamoDb } from './index.js';

let fake;
let client;
before(async () => {
  fake = await startDynamoDb({ tables: ['locks'] });
  client = new DynamoDBClient({ region: 'us-east-1', endpoint: fake.endpoint, credentials: TEST_CREDENTIALS, maxAttempts: 1 });
});
after(async () => {
  client?.destroy();
  await fake?.close();
});

const take = (name, holder, now, ttl = 1000) =>
  client.send(
    new PutItemCommand({
      TableName: 'locks',
      Item: { lease: { S: name }, holder: { S: holder }, expires: { N: String(now + ttl) } },
      ConditionExpression: 'attribute_not_exists(#l) OR #e < :now',
      ExpressionAttributeNames: { '#l': 'lease', '#e': 'expires' },
      ExpressionAttributeValues: { ':now': { N: String(now) } },
    }),
  );

test('PutItem with a condition: absent or expired succeeds, live fails with ConditionalCheckFailedException', async () => {
  await take('a', 'one', 1000);
  const error = await take('a', 'two', 1500).catch((e) => e);
  assert.equal(error?.name, 'ConditionalCheckFailedException');
  assert.equal(error.$metadata.httpStatusCode, 400);
  assert.equal(fake.calls.at(-1).errorCode, 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException');
  await take('a', 'two', 2500); // expired at 2000
  const { Item } = await client.send(new GetItemCommand({ TableName: 'locks', Key: { lease: { S: 'a' } }, ConsistentRead: true }));
  assert.equal(Item.holder.S, 'two');
});

test('UpdateItem and DeleteItem only while the holder matches', async () => {
  await take('b', 'me', 0);
  const mine = { ConditionExpression: 'holder = :me', ExpressionAttributeValues: { ':me': { S: 'me' } } };
  await client.send(new UpdateItemCommand({ TableName: 'locks', Key: { lease: { S: 'b' } }, UpdateExpression: 'SET #e = :e', ...mine, ExpressionAttributeNames: { '#e': 'expires' }, ExpressionAttributeValues: { ...mine.ExpressionAttributeValues, ':e': { N: '99' } } }));
  assert.equal(fake.item('locks', 'b').expires.N, '99');
  const other = await client.send(new DeleteItemCommand({ TableName: 'locks', Key: { lease: { S: 'b' } }, ConditionExpression: 'holder = :me', ExpressionAttributeValues: { ':me': { S: 'you' } } })).catch((e) => e);
  assert.equal(other?.name, 'ConditionalCheckFailedException');
  await client.send(new DeleteItemCommand({ TableName: 'locks', Key: { lease: { S: 'b' } }, ...mine }));
  assert.equal(fake.item('locks', 'b'), undefined);
});

test('a missing table is ResourceNotFoundException; a bad expression or placeholder is ValidationException', async () => {
  const missing = await client.send(new GetItemCommand({ TableName: 'nope', Key: { lease: { S: 'x' } } })).catch((e) => e);
  assert.equal(missing?.name, 'ResourceNotFoundException');
  const bad = await client.send(new PutItemCommand({ TableName: 'locks', Item: { lease: { S: 'c' } }, ConditionExpression: 'attribute_not_exists(#l) OR' , ExpressionAttributeNames: { '#l': 'lease' } })).catch((e) => e);
  assert.equal(bad?.name, 'ValidationException');
  const undefinedValue = await client.send(new PutItemCommand({ TableName: 'locks', Item: { lease: { S: 'c' } }, ConditionExpression: 'holder = :x' })).catch((e) => e);
  assert.equal(undefinedValue?.name, 'ValidationException');
  assert.equal(fake.item('locks', 'c'), undefined, 'nothing written');
});
