defmodule Realtime.Gateway.Payloads do
  @moduledoc """
  Discord API objects (user, member, role, channel, guild, message) rendered
  from the guild's plain maps, with every documented field present (null
  where there is nothing): libraries index fields directly and crash when
  one is missing. Snowflakes and bitfields are strings.
  """

  alias Realtime.Snowflake

  @doc "A user object."
  @spec user(map) :: map
  def user(u) do
    %{
      "id" => to_string(u.id),
      "username" => u.username,
      "global_name" => u.global_name,
      "discriminator" => "0",
      "avatar" => nil,
      "bot" => u.bot,
      "system" => false,
      "mfa_enabled" => false,
      "banner" => nil,
      "accent_color" => nil,
      "locale" => "en-US",
      "verified" => true,
      "flags" => 0,
      "premium_type" => 0,
      "public_flags" => 0,
      "avatar_decoration_data" => nil
    }
  end

  @doc "A guild member object, with its user."
  @spec member(map, map) :: map
  def member(m, u) do
    %{
      "user" => user(u),
      "nick" => m.nick,
      "avatar" => nil,
      "roles" => Enum.map(m.roles, &to_string/1),
      "joined_at" => m.joined_at,
      "premium_since" => nil,
      "deaf" => false,
      "mute" => false,
      "flags" => 0,
      "pending" => false,
      "communication_disabled_until" => nil,
      "avatar_decoration_data" => nil
    }
  end

  @doc "A role object."
  @spec role(map) :: map
  def role(r) do
    %{
      "id" => to_string(r.id),
      "name" => r.name,
      "color" => r.color,
      "hoist" => r.hoist,
      "icon" => nil,
      "unicode_emoji" => nil,
      "position" => r.position,
      "permissions" => to_string(r.permissions),
      "managed" => false,
      "mentionable" => false,
      "tags" => %{},
      "flags" => 0
    }
  end

  @doc "A guild channel object."
  @spec channel(map, integer) :: map
  def channel(c, guild_id) do
    %{
      "id" => to_string(c.id),
      "type" => c.type,
      "guild_id" => to_string(guild_id),
      "position" => c.position,
      "permission_overwrites" =>
        Enum.map(c.permission_overwrites, fn o ->
          %{"id" => to_string(o.id), "type" => o.type, "allow" => to_string(o.allow), "deny" => to_string(o.deny)}
        end),
      "name" => c.name,
      "topic" => c[:topic],
      "nsfw" => false,
      "last_message_id" => nil,
      "bitrate" => if(c.type == 2, do: 64_000, else: nil),
      "user_limit" => if(c.type == 2, do: 0, else: nil),
      "rate_limit_per_user" => 0,
      "parent_id" => c.parent_id && to_string(c.parent_id),
      "last_pin_timestamp" => nil,
      "rtc_region" => nil,
      "flags" => 0
    }
  end

  @doc """
  The guild object of GUILD_CREATE with the given `members`; `user_of`
  finds a member's user, and `opts` carries the session's `:joined_at` and
  whether the guild is `:large`.
  """
  @spec guild_create(map, [map], (integer -> map), keyword) :: map
  def guild_create(g, members, user_of, opts) do
    %{
      "id" => to_string(g.id),
      "name" => g.name,
      "icon" => nil,
      "icon_hash" => nil,
      "splash" => nil,
      "discovery_splash" => nil,
      "owner_id" => to_string(g.owner_id),
      "afk_channel_id" => nil,
      "afk_timeout" => 300,
      "widget_enabled" => false,
      "widget_channel_id" => nil,
      "verification_level" => 0,
      "default_message_notifications" => 0,
      "explicit_content_filter" => 0,
      "roles" => g.roles |> Map.values() |> Enum.sort_by(& &1.position) |> Enum.map(&role/1),
      "emojis" => [],
      "features" => [],
      "mfa_level" => 0,
      "system_channel_id" => nil,
      "system_channel_flags" => 0,
      "rules_channel_id" => nil,
      "max_presences" => nil,
      "max_members" => 500_000,
      "vanity_url_code" => nil,
      "description" => nil,
      "banner" => nil,
      "premium_tier" => 0,
      "premium_subscription_count" => 0,
      "preferred_locale" => "en-US",
      "public_updates_channel_id" => nil,
      "max_video_channel_users" => 25,
      "max_stage_video_channel_users" => 50,
      "approximate_member_count" => nil,
      "approximate_presence_count" => nil,
      "welcome_screen" => nil,
      "nsfw_level" => 0,
      "stickers" => [],
      "premium_progress_bar_enabled" => false,
      "safety_alerts_channel_id" => nil,
      "incidents_data" => nil,
      # GUILD_CREATE extras
      "joined_at" => opts[:joined_at],
      "large" => opts[:large],
      "unavailable" => false,
      "member_count" => map_size(g.members),
      "voice_states" => [],
      "members" => Enum.map(members, &member(&1, user_of.(&1.user_id))),
      "channels" => g.channels |> Map.values() |> Enum.sort_by(& &1.position) |> Enum.map(&channel(&1, g.id)),
      "threads" => [],
      "presences" => Keyword.get(opts, :presences, []),
      "stage_instances" => [],
      "guild_scheduled_events" => [],
      "soundboard_sounds" => []
    }
  end

  @doc """
  A message object. Optional fields that do not apply (thread,
  message_reference, webhook_id, ...) are left out, as Discord does:
  libraries test for their presence, not for null.
  """
  @spec message(map) :: map
  def message(m) do
    %{
      "id" => to_string(m.id),
      "channel_id" => to_string(m.channel_id),
      "guild_id" => to_string(m.guild_id),
      "author" => user(m.author),
      "member" => m.member && Map.delete(member(m.member, m.author), "user"),
      "content" => m.content,
      "timestamp" => Snowflake.timestamp(m.id),
      "edited_timestamp" => m[:edited],
      "tts" => false,
      "mention_everyone" => false,
      "mentions" => [],
      "mention_roles" => [],
      "mention_channels" => [],
      "attachments" => [],
      "embeds" => [],
      "reactions" => [],
      "nonce" => m.nonce,
      "pinned" => false,
      "type" => 0,
      "flags" => 0,
      "components" => [],
      "sticker_items" => []
    }
  end
end
