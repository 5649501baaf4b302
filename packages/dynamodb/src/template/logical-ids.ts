import { AGGREGATOR } from './aggregator.js';
import { ALARM_TOPIC } from './alarms.js';
import { POLICIES } from './policies.js';
import { TABLE } from './table.js';

/** Logical ids of the template's main resources, for tools that look them up in a stack. */
export const TEMPLATE_LOGICAL_IDS = Object.freeze({
  table: TABLE,
  alarmTopic: ALARM_TOPIC,
  policies: POLICIES,
  aggregator: AGGREGATOR,
});
