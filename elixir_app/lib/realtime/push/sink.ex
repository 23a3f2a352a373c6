defmodule Realtime.Push.Sink do
  @moduledoc """
  Where push notifications go. A sink delivers one batch of jobs
  (`Realtime.Push.Job`, which also writes them as JSON) and says whether
  it took them; the sender retries, with backoff, what it did not take.

  Two sinks: `Realtime.Push.Webhook` (HTTP POST of a JSON batch) and
  `Realtime.Push.FileSink` (JSON lines, for local use).
  """

  @doc "Delivers `batch`; `:ok` once the receiver has it."
  @callback deliver(batch :: [Realtime.Push.Job.t()], config :: map) :: :ok | {:error, term}
end
