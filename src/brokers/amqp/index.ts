export { AmqpBroker, type AmqpBrokerOptions } from "./broker.js";
export { AMQP_SCHEMES, parseAmqpUrl } from "./url.js";
export { Topology, type QueueSpec } from "./topology.js";
