/**
 * First Ctrl-C: abort `signal` (the command finishes what is in flight and reports); second:
 * exit 130 at once. `dispose` removes the handler.
 */
export function interruptOnSigint(stopping: string): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nstopping: ${stopping} (Ctrl-C again to quit now)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSigint);
    },
  };
}
