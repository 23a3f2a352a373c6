defmodule Realtime.Push.FileSink do
  @moduledoc """
  A sink that appends each push as one JSON line to a file
  (`REALTIME_PUSH_FILE`), for local use: `tail -f` shows what would be
  pushed.
  """
  @behaviour Realtime.Push.Sink

  @impl true
  def deliver(batch, %{path: path}) do
    lines = Enum.map(batch, &[Realtime.Push.Job.to_json(&1), ?\n])

    case File.write(path, lines, [:append]) do
      :ok -> :ok
      {:error, reason} -> {:error, reason}
    end
  end
end
