export declare const TOOLS: Record<string, { debian: string; why: string }>;
export declare function onPath(command: string, path?: string): boolean;
