defmodule Realtime.Push.Webhook do
  @moduledoc """
  A sink that POSTs each batch as JSON (`{"pushes": [...]}`, each push as
  `Realtime.Push.Job.to_json/1` writes it) to a URL
  (`REALTIME_PUSH_WEBHOOK`) with OTP's `:httpc`. Any 2xx answer takes the
  batch; anything else, a timeout (`timeout_ms`, default 5,000) or a
  refused connection is an error the sender retries.
  """
  @behaviour Realtime.Push.Sink

  @impl true
  def deliver(batch, %{url: url} = config) do
    timeout = Map.get(config, :timeout_ms, 5_000)
    body = IO.iodata_to_binary([~s({"pushes":), Realtime.Push.Job.to_json_array(batch), ?}])
    request = {String.to_charlist(url), [], ~c"application/json", body}

    case :httpc.request(:post, request, [timeout: timeout, connect_timeout: timeout], body_format: :binary) do
      {:ok, {{_, status, _}, _, _}} when status in 200..299 -> :ok
      {:ok, {{_, status, _}, _, _}} -> {:error, {:status, status}}
      {:error, reason} -> {:error, reason}
    end
  end
end
