defmodule Realtime.Directory do
  @moduledoc """
  Read-mostly lookups shared by every process: users by id, users by token,
  the guild of a channel, the guilds of a user, and the application. An ETS
  table owned by this process, read concurrently without messages. Users
  and the application come from the dataset; guilds register their
  channels and members when they start (`put_guild/1`).

  In a cluster every node needs every guild's entries (a REST call or an
  identify may land on any node), while each guild runs on one: a guild's
  registrations are applied here and sent to the other nodes, and a node
  that starts, or sees members join, asks them for what they know. Entries
  only ever merge
  (a channel's guild is fixed, and users' guild lists are unions), so the
  order they arrive in does not matter.
  """
  use GenServer

  alias Realtime.Cluster.Membership

  @table __MODULE__

  @doc false
  @spec start_link(map) :: GenServer.on_start()
  def start_link(seed), do: GenServer.start_link(__MODULE__, seed, name: __MODULE__)

  @doc "The user with `id`."
  @spec user(integer) :: {:ok, map} | :error
  def user(id), do: lookup({:user, id})

  @doc "The user whose bot token is `token`."
  @spec authenticate(String.t()) :: {:ok, map} | :error
  def authenticate(token) when is_binary(token) do
    with {:ok, id} <- lookup({:token, token}), do: user(id)
  end

  def authenticate(_), do: :error

  @doc "The guild id of channel `channel_id`."
  @spec guild_of_channel(integer) :: {:ok, integer} | :error
  def guild_of_channel(channel_id), do: lookup({:channel, channel_id})

  @doc "The ids of the guilds `user_id` is a member of."
  @spec guilds_of(integer) :: [integer]
  def guilds_of(user_id) do
    case lookup({:guilds_of, user_id}) do
      {:ok, ids} -> ids
      :error -> []
    end
  end

  @doc "The application."
  @spec application() :: map
  def application, do: :ets.lookup_element(@table, :application, 2)

  @doc """
  Records a guild as loaded: its channels belong to it, and its members
  are in it. Guilds call this when they start.
  """
  @spec put_guild(map) :: :ok
  def put_guild(guild) do
    entries = for({cid, _} <- guild.channels, do: {:channel, cid, guild.id}) ++ for({uid, _} <- guild.members, do: {:guilds_of, uid, [guild.id]})
    merge(entries)
    share(entries)
  end

  # Applies entries from this node or another.
  defp merge(entries) do
    Enum.each(entries, fn
      {:channel, cid, gid} -> :ets.insert(@table, {{:channel, cid}, gid})
      {:guilds_of, uid, gids} -> Enum.each(gids, &add_guild_of(uid, &1))
    end)
  end

  defp share(entries) do
    # A plain message to each node's directory: a node still starting (no
    # directory yet) drops it, and asks for everything once it is up.
    for n <- Node.list(), do: :erlang.send({__MODULE__, n}, {:merge, entries}, [:noconnect])
    :ok
  end

  # Only this guild's process writes its id into members' rows, but two
  # guilds may update one user's row at once: `select_replace` on the exact
  # old row makes each update atomic.
  defp add_guild_of(uid, gid) do
    case :ets.lookup(@table, {:guilds_of, uid}) do
      [] ->
        :ets.insert_new(@table, {{:guilds_of, uid}, [gid]}) or add_guild_of(uid, gid)

      [{key, ids} = old] ->
        unless gid in ids do
          new = {key, Enum.sort([gid | ids])}
          :ets.select_replace(@table, [{old, [], [{:const, new}]}]) == 1 or add_guild_of(uid, gid)
        end
    end
  end

  @doc "Records that `channel_id` belongs to `guild_id`."
  @spec put_channel(integer, integer) :: :ok
  def put_channel(channel_id, guild_id) do
    entries = [{:channel, channel_id, guild_id}]
    merge(entries)
    share(entries)
  end

  defp lookup(key) do
    case :ets.lookup(@table, key) do
      [{_, value}] -> {:ok, value}
      [] -> :error
    end
  end

  @impl true
  def init(seed) do
    :ets.new(@table, [:named_table, :set, :public, read_concurrency: true])
    :ets.insert(@table, {:application, seed.application})

    for u <- seed.users do
      :ets.insert(@table, {{:user, u.id}, u})
      if u.token, do: :ets.insert(@table, {{:token, u.token}, u.id})
    end

    Membership.subscribe()
    {:ok, pull(Membership.members(), [node()])}
  end

  @impl true
  def handle_info({:cluster_members, members}, known), do: {:noreply, pull(members, known)}

  def handle_info({:merge, entries}, known) do
    merge(entries)
    {:noreply, known}
  end

  # Asks the members not known before for their entries.
  defp pull(members, known) do
    for n <- members -- known do
      try do
        merge(:erpc.call(n, __MODULE__, :entries, [], 5_000))
      catch
        # It will push what it registers from now on, and a node that
        # restarts asks again.
        _, _ -> :ok
      end
    end

    members
  end

  @doc false
  @spec entries() :: [tuple]
  def entries do
    channels = :ets.select(@table, [{{{:channel, :"$1"}, :"$2"}, [], [{{:channel, :"$1", :"$2"}}]}])
    guilds_of = :ets.select(@table, [{{{:guilds_of, :"$1"}, :"$2"}, [], [{{:guilds_of, :"$1", :"$2"}}]}])
    channels ++ guilds_of
  end
end
