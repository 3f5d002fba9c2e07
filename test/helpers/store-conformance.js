// keyshift's own adapters run the suite plugin authors get as `keyshift/testing` (testing/conformance.js).
export { testStore } from '../../testing/conformance.js';
