/** The Defender API simulator's public surface: start one, drive it, read what it saw. */
export {
  startSimulator,
  type RunningSimulator,
  type SimulatorConnectionInfo,
  type SimulatorOptions,
  type SimulatorProfile,
} from "./server.js";
export { FaultsError, FaultsSchema, type Faults, type FaultsInput } from "./faults.js";
export { SimulatorStatsSchema, type SimulatorStats } from "./stats.js";
export { ENDPOINT_NAMES, type EndpointName } from "./endpoints.js";
export { defaultScenario } from "./defaultScenario.js";
export {
  loadScenarioFile,
  parseScenario,
  ScenarioError,
  ScenarioSchema,
  type Scenario,
  type ScenarioInput,
} from "./scenario.js";
export { ManualClock, systemClock, type SimClock } from "./simClock.js";
