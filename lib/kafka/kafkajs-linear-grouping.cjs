// kafkajs 2.2.4 groups a send's messages by partition with `[...current, message]` for every
// message: quadratic in the messages of one send. A changelog checkpoint sends them 1,000 at a
// time, and the profile of the engagement processor showed that grouping at 4 % of its time
// (upstream: tulios/kafkajs pull request #1576, open; kafkajs is no longer released).
//
// This replaces the module in Node's require cache with the same grouping in linear time
// (same keys, same order of messages within a partition), before kafkajs' producer loads it.
// It must run before anything imports kafkajs: bin/viewpulse.js requires it first. Where it
// runs too late (kafkajs' sendMessages loaded already) it changes nothing and says so.
'use strict';
const path = require('node:path');

const groupingPath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const sendMessagesPath = path.join(path.dirname(groupingPath), 'sendMessages.js');

/** kafkajs' groupMessagesPerPartition, linear: partition → its messages, in send order. */
function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }) {
  if (partitionMetadata.length === 0) return {};
  const result = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

/** True when kafkajs will use the linear grouping (it was installed before kafkajs' producer loaded). */
function install() {
  if (require.cache[sendMessagesPath]) return false; // it holds the original already
  require(groupingPath); // a real module entry, whose exports are then replaced
  require.cache[groupingPath].exports = groupMessagesPerPartition;
  return true;
}

const installed = install();
if (!installed) process.emitWarning('kafkajs was loaded before its linear grouping: sends stay quadratic');

module.exports = { groupMessagesPerPartition, installed, groupingPath };
