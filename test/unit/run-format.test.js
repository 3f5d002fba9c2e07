// `keyshift env` formats: a value with quotes, $, backslashes and newlines reads back unchanged
// when sh sources the shell form, and by the `dotenv` package's rules for the dotenv form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dotenvLine, shellLine } from '../../dist/cli/run.js';
import { SecretValue } from '../../dist/secret-value.js';

const NASTY = [`it's`, `say "hi" $HOME \`id\``, 'two\nlines', 'back\\nslash', `'`, ' spaced ', 'a\\\'b'];
const item = (text) => ({ name: 'V', secret: 's', value: SecretValue.fromString(text) });

test('shell: sh reads every value back unchanged', () => {
  for (const text of NASTY) {
    const got = execFileSync('sh', ['-c', `${shellLine(item(text))}printf '%s' "$V"`], { encoding: 'utf8' });
    assert.equal(got, text, JSON.stringify(text));
  }
});

test('dotenv: the dotenv parser reads every representable value back unchanged', () => {
  for (const text of NASTY) assert.deepEqual(parseDotenv(dotenvLine(item(text))), { V: text }, JSON.stringify(text));
  assert.throws(() => dotenvLine(item(`'\`"`)), { code: 'ERR_USAGE', message: /cannot be written as dotenv/ });
  assert.throws(() => dotenvLine(item(`'\`"`)), (error) => !error.message.includes(`'\`"`));
});

// The `dotenv` package's parser (lib/main.js, v16), restated: a quoted value is taken literally,
// except that \n and \r inside double quotes become newline and carriage return.
function parseDotenv(text) {
  const LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;
  const out = {};
  for (const [, key, raw = ''] of text.replace(/\r\n?/gm, '\n').matchAll(LINE)) {
    let value = raw.trim();
    const quote = value[0];
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
    if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    out[key] = value;
  }
  return out;
}
