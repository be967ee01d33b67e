/**
 * A loop's sleep that can be cut short: `sleep(ms)` waits until the time is up or `wake()` is
 * called, whichever comes first. A `wake()` while awake makes the next sleep return at once, so a
 * signal that arrives between two sleeps is not lost. Used by the delivery engine and the webhook
 * dispatcher, which both poll the store but must react at once to new work.
 */
export class Waker {
  #wakeUp: (() => void) | null = null;
  #woken = false;

  wake(): void {
    this.#woken = true;
    this.#wakeUp?.();
  }

  async sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wakeUp = null;
    this.#woken = false;
  }
}
