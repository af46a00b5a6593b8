// Dependency analysis of ELF files, as the dynamic loader would do it, without running anything.
export { createResolver } from './resolve.js';
export { ElfCache, statState } from './cache.js';
export type { LoaderInfo, Resolution, ResolveOptions, Resolver, ResolverOptions } from './resolve.js';
export type { FoundBy, Library, LoadResult } from './types.js';
export type { GlibcOptions } from './platform.js';
export { defaultInterpreter, machineName } from './platform.js';
export { EM_386, EM_AARCH64, EM_X86_64, ET_DYN, ET_EXEC, ET_REL, elfFiles, hasElfMagic, isElf, readElfFile } from './read.js';
export type { DynamicInfo, ElfHeader, ElfInfo, ElfResult, ProgramHeader } from './read.js';
export { loadLdCache, lookupLdCache, parseLdCache } from './ldcache.js';
export type { CacheEntry, CacheMatch, LdCache } from './ldcache.js';
export { MUSL_DEFAULT_PATH, muslArch, muslPathFile, readMuslPath } from './musl.js';
