defmodule Realtime.Test.Schema do
  @moduledoc """
  Validation against Discord's own OpenAPI spec
  (`test/fixtures/discord-api-spec/discord-openapi.json`), by an
  independent validator: Python's `jsonschema` (JSON Schema 2020-12, with
  date-time and uri formats checked) in the test virtualenv, run as one
  port process (`schema_peer.py`) for the whole test run.

  Instances are encoded for the peer with jsx, not with our own JSON
  encoder, and REST bodies are passed through as the bytes we sent.
  """
  use GenServer

  @python Path.expand("../../.venv/bin/python", __DIR__)
  @peer Path.expand("schema_peer.py", __DIR__)
  @spec_path Path.expand("../fixtures/discord-api-spec/discord-openapi.json", __DIR__)

  @doc "Starts the validator, unlinked, once for the test run."
  def start do
    case GenServer.start(__MODULE__, nil, name: __MODULE__) do
      {:ok, pid} -> {:ok, pid}
      {:error, {:already_started, pid}} -> {:ok, pid}
    end
  end

  @doc "The errors of `term` against `components/schemas/<name>` (empty when valid)."
  def errors(name, term), do: ask(~s({"schema":#{json_string(name)},"instance":#{encode(term)}}))

  @doc """
  The errors of a REST answer against the response the spec documents for
  `method`, `template` and `status`; `raw_body` is the JSON we sent, or
  `nil` for no body.
  """
  def response_errors(method, template, status, raw_body) do
    instance = if raw_body in [nil, ""], do: "null", else: raw_body
    ask(~s({"method":#{json_string(String.downcase(method))},"path":#{json_string(template)},"status":#{status},"instance":#{instance}}))
  end

  @doc "Counts of what was validated so far: `%{objects: n, responses: n}`."
  def counts, do: GenServer.call(__MODULE__, :counts)

  defp ask(request), do: GenServer.call(__MODULE__, {:ask, request}, 30_000)

  @doc "A term as JSON, by jsx (`nil` is `null`; atom keys and values become strings)."
  def encode(term), do: term |> to_jsx() |> :jsx.encode()

  defp to_jsx(nil), do: :null
  defp to_jsx(b) when is_boolean(b), do: b
  defp to_jsx(a) when is_atom(a), do: Atom.to_string(a)
  defp to_jsx(m) when is_map(m), do: Map.new(m, fn {k, v} -> {to_string(k), to_jsx(v)} end)
  defp to_jsx(l) when is_list(l), do: Enum.map(l, &to_jsx/1)
  defp to_jsx(other), do: other

  defp json_string(s), do: :jsx.encode(s)

  @impl true
  def init(nil) do
    port = Port.open({:spawn_executable, @python}, [:binary, {:packet, 4}, :exit_status, args: [@peer, @spec_path]])
    {:ok, %{port: port, counts: %{objects: 0, responses: 0}}}
  end

  @impl true
  def handle_call({:ask, request}, _from, %{port: port} = state) do
    Port.command(port, request)

    receive do
      {^port, {:data, answer}} ->
        %{"errors" => errors} = :jsx.decode(answer, [:return_maps])
        kind = if String.starts_with?(request, ~s({"schema")), do: :objects, else: :responses
        {:reply, errors, update_in(state, [:counts, kind], &(&1 + 1))}

      {^port, {:exit_status, status}} ->
        {:stop, {:validator_exited, status}, state}
    after
      30_000 -> {:stop, :validator_timeout, state}
    end
  end

  def handle_call(:counts, _from, state), do: {:reply, state.counts, state}
end
