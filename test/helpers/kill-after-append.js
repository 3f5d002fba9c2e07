// Loaded with --import into a keyshift run: kills the process (SIGKILL, as `kill -9` does) right
// after the evidence append that holds the KILL_AFTER_COUNT-th record of event KILL_AFTER_EVENT is
// fsynced, before the run's next step. keyshift itself knows nothing of this: the FileHandle
// methods every handle shares are wrapped before it loads.
import fs from 'node:fs';

const event = process.env.KILL_AFTER_EVENT;
const count = Number(process.env.KILL_AFTER_COUNT ?? 1);
if (event) {
  const marker = `"event":${JSON.stringify(event)}`;
  const handle = await fs.promises.open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(handle);
  await handle.close();
  const writeFile = proto.writeFile;
  const datasync = proto.datasync;
  const armed = new WeakSet();
  let seen = 0;
  proto.writeFile = function (data, ...rest) {
    const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : '';
    const before = seen;
    for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) seen++;
    if (before < count && seen >= count) armed.add(this);
    return writeFile.call(this, data, ...rest);
  };
  proto.datasync = async function (...args) {
    await datasync.apply(this, args);
    if (armed.has(this)) process.kill(process.pid, 'SIGKILL');
  };
}
