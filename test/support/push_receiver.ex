defmodule Realtime.Test.PushReceiver do
  @moduledoc """
  A real HTTP server for push webhook tests: Cowboy on a free loopback
  port that takes `POST /push` with a JSON body `{"pushes": [...]}` and
  tells the test process about each request as
  `{:push_request, monotonic_ms, status, pushes}`.

  Its behaviour can be changed while it runs (`set_mode/2`):

    * `:ok` - answers 204;
    * `{:slow, ms}` - waits `ms`, then answers 204;
    * `{:fail, status}` - answers `status` (a 5xx, say).
  """

  @behaviour :cowboy_handler

  @type t :: %{ref: atom, url: String.t(), modes: :ets.tid()}

  @doc "Starts a receiver reporting to the calling process."
  @spec start(term) :: t
  def start(mode \\ :ok) do
    ref = :"push_receiver_#{System.unique_integer([:positive])}"
    modes = :ets.new(:push_receiver, [:public, :set])
    :ets.insert(modes, {:mode, mode})
    dispatch = :cowboy_router.compile([{:_, [{"/push", __MODULE__, %{test: self(), modes: modes}}]}])
    {:ok, _} = :cowboy.start_clear(ref, [ip: {127, 0, 0, 1}, port: 0], %{env: %{dispatch: dispatch}})
    %{ref: ref, url: "http://127.0.0.1:#{:ranch.get_port(ref)}/push", modes: modes}
  end

  @doc "Changes how the receiver answers from the next request on."
  @spec set_mode(t, :ok | {:slow, non_neg_integer} | {:fail, pos_integer}) :: :ok
  def set_mode(r, mode) do
    :ets.insert(r.modes, {:mode, mode})
    :ok
  end

  @doc "Stops the receiver: connections are refused from now on. Safe to call twice."
  @spec stop(t) :: :ok
  def stop(r) do
    :cowboy.stop_listener(r.ref)
  rescue
    # Ranch raises for a listener it no longer knows.
    ArgumentError -> :ok
  end

  @impl true
  def init(req, %{test: test, modes: modes} = opts) do
    {:ok, body, req} = read_body(req, "")
    [{:mode, mode}] = :ets.lookup(modes, :mode)
    status = answer(mode)
    {:ok, %{"pushes" => pushes}} = Realtime.JSON.decode(body)
    send(test, {:push_request, System.monotonic_time(:millisecond), status, pushes})
    {:ok, :cowboy_req.reply(status, req), opts}
  end

  defp answer(:ok), do: 204
  defp answer({:slow, ms}), do: Process.sleep(ms) && 204
  defp answer({:fail, status}), do: status

  defp read_body(req, acc) do
    case :cowboy_req.read_body(req) do
      {:ok, data, req} -> {:ok, acc <> data, req}
      {:more, data, req} -> read_body(req, acc <> data)
    end
  end
end
