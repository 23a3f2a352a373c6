defmodule Realtime.Store do
  @moduledoc """
  Durable guild state (guilds, channels with their overwrites, roles,
  members) and message history with reactions. Presences and sessions are
  not stored: a resume after a restart gets op 9, as on Discord.

  Two durable adapters implement this behaviour over one Rust core
  (`native/store`), which does all the I/O on its own threads, so no
  scheduler ever waits on disk:

    * `Realtime.Store.SQLite`, the default: one file in WAL mode, embedded.
    * `Realtime.Store.Postgres`: a server several nodes can share, with a
      small pool of connections.

  A third, `Realtime.Store.Memory`, keeps everything in ETS and loses it
  with the VM: what the application did before it had a store, for
  ephemeral nodes and as the baseline of `mix bench store`.

  A write is one transaction: its answer comes after it committed, or
  failed, in which case none of it was stored.
  Writes with the same key (a guild's id) are committed in the order they
  were made. Identical reads that wait together are answered by one query.

  The store of the running application is opened by this module's process
  and published with `:persistent_term` (`handle/0`); `write/3`,
  `write_async/3` and `read/2` use it unless given a handle from `open/2`.

  The durable adapters group-commit (see `native/store`): every write
  queued while the previous commit ran goes into the next transaction.

  ## Leases and fencing

  In a cluster, one node at a time owns a guild, and the store is what
  makes "one" true even when the network is split:

    * `{:lease, guild}` reads the lease: `{owner, epoch}` or `nil`;
    * `{:take_lease, guild, owner, epoch}` takes it at `epoch`, only if it is
      now at `epoch - 1` (a guild never leased is at 0): a compare-and-set,
      so of two nodes that read the same epoch exactly one wins;
    * `{:fence, guild, epoch}`, first in an owner's every write, makes the
      write fail with `{:error, {:fenced, message}}`, storing none of it,
      once the lease has moved past `epoch`.

  A fenced write fails alone, even when it shared a group commit with
  other guilds' writes. The memory adapter checks leases too, but it is one
  VM's and means nothing across nodes.

  ## Configuration

    * `REALTIME_STORE` - unset or `sqlite`: SQLite; `postgres://...` (or a
      libpq `key=value` string starting `host=`): PostgreSQL.
    * `REALTIME_DATA_DIR` - where the SQLite file `realtime.db` lives
      (default `./data`); printed at start.
    * `REALTIME_SQLITE_SYNCHRONOUS` - `normal` (default) or `full`.

  Application env `:store` (`{adapter, config}`) overrides them.
  """

  require Realtime.Metrics, as: Metrics
  use GenServer
  require Logger

  @typedoc "An open store: its adapter and the adapter's own handle."
  @type handle :: {module, term}
  @type table :: :guilds | :channels | :roles | :members | :messages | :settings
  @type op ::
          {:put, table, integer, integer, binary}
          | {:delete, table, integer, integer}
          | {:delete_scope, table, integer}
          | {:react, integer, integer, String.t(), integer, boolean}
          | {:put_meta, String.t(), binary}
          | {:take_lease, integer, String.t(), pos_integer}
          | {:fence, integer, pos_integer}
  @type page :: :latest | {:before, integer} | {:after, integer} | {:around, integer}
  @type query ::
          {:rows, table, integer}
          | {:get, table, integer, integer}
          | {:page, integer, page, pos_integer}
          | {:reactions, integer, integer}
          | {:meta, String.t()}
          | {:lease, integer}
  @type reason :: {:unavailable | :full | :corrupt | :foreign | :too_new | :fenced | :other | :timeout, String.t()}

  @doc "Opens the store `config` describes, applying migrations; returns what they did."
  @callback open(config :: map) :: {:ok, handle, migrations :: [String.t()]} | {:error, reason}

  @doc "Where the store is, for the start banner and error messages."
  @callback describe(config :: map) :: String.t()

  @doc "Queues `ops` as one transaction; answers `{:store_written, tag, result}` to the caller."
  @callback write(store :: term, key :: non_neg_integer, [op], tag :: non_neg_integer) :: :ok

  @doc "Queues `query`; answers `{:store_read, tag, {:ok, reply} | {:error, reason}}` to the caller."
  @callback read(store :: term, query, tag :: non_neg_integer) :: :ok

  @timeout 15_000

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc "The adapter and config the environment selects."
  @spec configured() :: {module, map}
  def configured do
    case Application.get_env(:realtime, :store) do
      {adapter, config} -> {adapter, Map.new(config)}
      nil -> from_environment()
    end
  end

  defp from_environment do
    case System.get_env("REALTIME_STORE", "sqlite") do
      "sqlite" ->
        {Realtime.Store.SQLite, %{path: Path.join(data_dir(), "realtime.db"), synchronous: synchronous()}}

      "postgres" <> _ = url ->
        {Realtime.Store.Postgres, %{url: url}}

      "host=" <> _ = conninfo ->
        {Realtime.Store.Postgres, %{url: conninfo}}

      other ->
        raise ArgumentError, "REALTIME_STORE must be unset, \"sqlite\" or a postgres:// URL, got: #{inspect(other)}"
    end
  end

  defp data_dir do
    case Application.get_env(:realtime, :data_dir) do
      # Tests: a fresh directory for each VM.
      {:tmp, prefix} -> Path.join(System.tmp_dir!(), "#{prefix}-#{System.pid()}") |> tap(&File.rm_rf!/1)
      nil -> System.get_env("REALTIME_DATA_DIR", Path.join(File.cwd!(), "data"))
    end
  end

  defp synchronous do
    case System.get_env("REALTIME_SQLITE_SYNCHRONOUS", "normal") do
      "normal" -> :normal
      "full" -> :full
      other -> raise ArgumentError, "REALTIME_SQLITE_SYNCHRONOUS must be normal or full, got: #{inspect(other)}"
    end
  end

  @doc "Opens a store with `adapter` and `config`."
  @spec open(module, map) :: {:ok, handle, [String.t()]} | {:error, reason}
  def open(adapter, config) do
    with {:ok, store, migrations} <- adapter.open(config), do: {:ok, {adapter, store}, migrations}
  end

  @doc "The store of the running application."
  @spec handle() :: handle
  def handle, do: :persistent_term.get({__MODULE__, :handle})

  @doc """
  Queues `ops` as one transaction under `key` and returns a tag; the answer
  arrives later as `{:store_written, tag, :ok | {:error, reason}}`.
  """
  @spec write_async(handle, non_neg_integer, [op]) :: non_neg_integer
  def write_async({adapter, store} \\ handle(), key, ops) do
    tag = System.unique_integer([:positive])
    :ok = adapter.write(store, key, ops, tag)
    tag
  end

  @doc "Writes `ops` as one transaction under `key` and waits for the answer."
  @spec write(handle, non_neg_integer, [op]) :: :ok | {:error, reason}
  def write(store \\ handle(), key, ops) do
    tag = write_async(store, key, ops)
    await(:store_written, tag)
  end

  @doc "Runs `query` and waits for the answer."
  @spec read(handle, query) :: {:ok, term} | {:error, reason}
  def read({adapter, store} \\ handle(), query) do
    tag = System.unique_integer([:positive])
    t0 = System.monotonic_time(:microsecond)
    :ok = adapter.read(store, query, tag)
    result = await(:store_read, tag)
    Metrics.observe(:store_read, nil, System.monotonic_time(:microsecond) - t0)
    with {:error, _} <- result, do: Metrics.inc(:store_errors, "read") && result
  end

  # A store thread always answers; the timeout only bounds the wait if the
  # database hangs (a late answer is then dropped by whoever gets it).
  defp await(kind, tag) do
    receive do
      {^kind, ^tag, result} -> result
    after
      @timeout -> {:error, {:timeout, "no answer from the store within #{@timeout} ms"}}
    end
  end

  @impl true
  def init(opts) do
    {adapter, config} = Keyword.get_lazy(opts, :store, &configured/0)

    case open(adapter, config) do
      {:ok, store, migrations} ->
        where = adapter.describe(config)
        for m <- migrations, do: Logger.info("store #{where}: applied migration #{m}")
        :persistent_term.put({__MODULE__, :handle}, store)
        :persistent_term.put({__MODULE__, :where}, where)
        {:ok, %{adapter: adapter, where: where}}

      {:error, {kind, message}} ->
        {:stop, {:store, kind, "cannot open the store #{adapter.describe(config)}: #{message}"}}
    end
  end

  @doc "Where the running store is."
  @spec where() :: String.t()
  def where, do: :persistent_term.get({__MODULE__, :where})
end
