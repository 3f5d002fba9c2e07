// DynamoDB condition expressions, the subset a lock table uses: comparisons (= <> < <= > >=),
// attribute_exists / attribute_not_exists, AND / OR / NOT and parentheses, with #name and :value
// placeholders (ExpressionAttributeNames / ExpressionAttributeValues), as in the public
// "Condition expressions" reference. Anything else is a ValidationException, as the service says.
import { AwsError } from '../aws-json-server.js';

const TOKEN = /\s*(\(|\)|<>|<=|>=|=|<|>|,|[#:]?[A-Za-z_][A-Za-z0-9_]*)/y;

export function evaluateCondition(expression, item, names = {}, values = {}) {
  const tokens = tokenize(expression);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++];
  const expect = (token) => {
    if (next() !== token) throw invalid(`Syntax error; token: "${tokens[at - 1] ?? '<EOF>'}", expected "${token}"`);
  };

  function operand() {
    const token = next();
    if (token === undefined) throw invalid('Syntax error; unexpected end of expression');
    if (token.startsWith(':')) {
      if (!Object.hasOwn(values, token)) throw invalid(`An expression attribute value used in expression is not defined; attribute value: ${token}`);
      return values[token];
    }
    return item?.[attributeName(token)];
  }
  function attributeName(token) {
    if (!token.startsWith('#')) return token;
    if (!Object.hasOwn(names, token)) throw invalid(`An expression attribute name used in the document path is not defined; attribute name: ${token}`);
    return names[token];
  }
  function primary() {
    const token = peek();
    if (token === '(') {
      next();
      const value = or();
      expect(')');
      return value;
    }
    if (/^not$/i.test(token)) {
      next();
      return !primary();
    }
    if (token === 'attribute_exists' || token === 'attribute_not_exists') {
      next();
      expect('(');
      const name = attributeName(next());
      const present = item !== undefined && Object.hasOwn(item, name);
      expect(')');
      return token === 'attribute_exists' ? present : !present;
    }
    const left = operand();
    const op = next();
    const right = operand();
    return compare(left, op, right);
  }
  function and() {
    let value = primary();
    while (/^and$/i.test(peek() ?? '')) {
      next();
      value = primary() && value;
    }
    return value;
  }
  function or() {
    let value = and();
    while (/^or$/i.test(peek() ?? '')) {
      next();
      value = and() || value;
    }
    return value;
  }
  const result = or();
  if (at !== tokens.length) throw invalid(`Syntax error; token: "${tokens[at]}"`);
  return result;
}

function compare(left, op, right) {
  if (!['=', '<>', '<', '<=', '>', '>='].includes(op)) throw invalid(`Syntax error; token: "${op}"`);
  if (left === undefined || right === undefined) return op === '<>';
  const [type] = Object.keys(left);
  if (type !== Object.keys(right)[0]) return op === '<>'; // different types never compare equal or ordered
  const a = type === 'N' ? Number(left.N) : left[type];
  const b = type === 'N' ? Number(right.N) : right[type];
  if (op === '=') return a === b;
  if (op === '<>') return a !== b;
  if (type !== 'N' && type !== 'S') throw invalid(`Invalid ConditionExpression: Incorrect operand type for operator or function; operator: ${op}, operand type: ${type}`);
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

function tokenize(expression) {
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    if (/^\s*$/.test(expression.slice(TOKEN.lastIndex))) break;
    const match = TOKEN.exec(expression);
    if (!match) throw invalid(`Invalid ConditionExpression: Syntax error; token: "${expression.slice(TOKEN.lastIndex).trim().slice(0, 10)}"`);
    tokens.push(match[1]);
  }
  return tokens;
}

function invalid(message) {
  return new AwsError('ValidationException', `Invalid ConditionExpression: ${message}`);
}
