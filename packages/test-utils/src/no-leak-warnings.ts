/**
 * Vitest setup file: a test file in which Node warns about listeners piling
 * up (`MaxListenersExceededWarning`) fails, so the warning never reaches a
 * user's console unnoticed.
 */
import { afterAll, beforeAll } from 'vitest';

interface Watch {
  warnings: Error[];
}

const key = Symbol.for('tollgate.test.listenerWarnings');
const shared = globalThis as { [key]?: Watch };
// Processes may run several test files: one listener per process, whatever the number of files.
const watch: Watch =
  shared[key] ??
  (() => {
    const created: Watch = { warnings: [] };
    process.on('warning', (warning) => {
      if (warning.name === 'MaxListenersExceededWarning') created.warnings.push(warning);
    });
    shared[key] = created;
    return created;
  })();

beforeAll(() => {
  watch.warnings = [];
});

afterAll(() => {
  const [first] = watch.warnings;
  if (first !== undefined)
    throw new Error(`Node warned during this file: ${first.message}`, { cause: first });
});
