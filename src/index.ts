export * from './core-abi.js';
export type { Link } from './links/link.js';
