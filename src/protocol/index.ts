export * from "./message.js";
export * from "./serializers.js";
export * from "./compression.js";
export * from "./repr.js";
