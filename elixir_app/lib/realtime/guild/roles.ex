defmodule Realtime.Guild.Roles do
  @moduledoc """
  A guild's rules for roles: creating and deleting them (MANAGE_ROLES),
  changing their permissions, and reading them, as functions over
  `Realtime.Guild.State`. Changes are barriers (`Realtime.Guild.Change`):
  they change who may see and do what.
  """

  alias Realtime.Snowflake
  alias Realtime.Gateway.Payloads
  alias Realtime.Guild.{Change, LazyLists, Rows, State}

  @doc "Creates a role (GUILD_ROLE_CREATE); needs MANAGE_ROLES."
  @spec create(State.t(), integer, map) :: Change.t() | {:error, atom}
  def create(state, user_id, attrs) do
    with :ok <- State.guild_permission(state, user_id, :manage_roles) do
      role = %{
        id: Snowflake.next(),
        name: Map.get(attrs, :name, "new role"),
        permissions: Map.get(attrs, :permissions, 0),
        position: map_size(state.guild.roles),
        hoist: Map.get(attrs, :hoist, false),
        color: Map.get(attrs, :color, 0)
      }

      Change.new([Rows.put(:roles, state.guild.id, role.id, role)], fn state ->
        state = State.put_guild(state, :roles, role.id, role)
        payload = Payloads.role(role)
        State.dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_CREATE", %{"guild_id" => to_string(state.guild.id), "role" => payload})
        {{:ok, payload}, State.refresh_audience(state)}
      end)
    end
  end

  @doc "Deletes a role, taking it from every member (GUILD_ROLE_DELETE); needs MANAGE_ROLES."
  @spec delete(State.t(), integer, integer) :: Change.t() | {:error, atom}
  def delete(state, user_id, role_id) do
    with :ok <- State.guild_permission(state, user_id, :manage_roles),
         true <- (role_id != state.guild.id and Map.has_key?(state.guild.roles, role_id)) || {:error, :unknown_role} do
      holders = for {id, m} <- state.guild.members, role_id in m.roles, into: %{}, do: {id, %{m | roles: List.delete(m.roles, role_id)}}
      writes = [Rows.delete(:roles, state.guild.id, role_id) | for({id, m} <- holders, do: Rows.put(:members, state.guild.id, id, m))]

      Change.new(writes, fn state ->
        state = State.delete_guild(state, :roles, role_id)
        state = State.recompute_views(%{state | guild: %{state.guild | members: Map.merge(state.guild.members, holders)}})
        State.dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_DELETE", %{"guild_id" => to_string(state.guild.id), "role_id" => to_string(role_id)})
        {:ok, state |> LazyLists.rebuild() |> State.refresh_audience()}
      end)
    end
  end

  @doc "Changes a role's permissions (GUILD_ROLE_UPDATE) and recomputes who sees what."
  @spec update_permissions(State.t(), integer, non_neg_integer) :: Change.t() | {:error, :unknown_role}
  def update_permissions(state, role_id, permissions) do
    case Map.fetch(state.guild.roles, role_id) do
      :error ->
        {:error, :unknown_role}

      {:ok, role} ->
        role = %{role | permissions: permissions}

        Change.new([Rows.put(:roles, state.guild.id, role_id, role)], fn state ->
          state = State.put_guild(state, :roles, role_id, role)
          State.recompute_views(state)
          State.dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_UPDATE", %{"guild_id" => to_string(state.guild.id), "role" => Payloads.role(role)})
          {:ok, state |> LazyLists.rebuild() |> State.refresh_audience()}
        end)
    end
  end

  @doc "Every role of the guild, for member `user_id`."
  @spec all(State.t(), integer) :: {:ok, [map]} | {:error, atom}
  def all(state, user_id) do
    with {:ok, _member} <- State.fetch_member(state, user_id), do: {:ok, Payloads.guild(state.guild)["roles"]}
  end
end
