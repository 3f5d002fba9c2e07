// pg ships no types (and @types/pg is not a dependency): postgres.ts declares the little it uses.
declare module 'pg';
