defmodule Realtime.Guild.PermissionsTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Realtime.Guild.Permissions, as: P

  @view P.bit(:view_channel)
  @send P.bit(:send_messages)

  defp guild do
    %{
      id: 1,
      owner_id: 99,
      roles: %{
        1 => %{permissions: @view ||| @send},
        10 => %{permissions: P.bit(:manage_messages)},
        11 => %{permissions: P.bit(:administrator)},
        12 => %{permissions: 0}
      }
    }
  end

  test "base permissions: @everyone, roles, owner and administrator" do
    assert P.base(guild(), %{user_id: 5, roles: []}) == (@view ||| @send)
    assert P.base(guild(), %{user_id: 5, roles: [10]}) == (@view ||| @send ||| P.bit(:manage_messages))
    assert P.base(guild(), %{user_id: 99, roles: []}) == P.all()
    assert P.base(guild(), %{user_id: 5, roles: [11]}) == P.all()
  end

  test "overwrites apply @everyone, then roles together, then the member" do
    hidden = %{permission_overwrites: [%{id: 1, type: 0, allow: 0, deny: @view}]}
    staff = %{permission_overwrites: [%{id: 1, type: 0, allow: 0, deny: @view}, %{id: 10, type: 0, allow: @view, deny: 0}]}
    # A role deny and another role's allow: allow wins (they are OR-ed, allow applied after deny).
    mixed = %{permission_overwrites: [%{id: 10, type: 0, allow: 0, deny: @send}, %{id: 12, type: 0, allow: @send, deny: 0}]}
    member_deny = %{permission_overwrites: [%{id: 10, type: 0, allow: @view, deny: 0}, %{id: 5, type: 1, allow: 0, deny: @view}]}

    plain = %{user_id: 5, roles: []}
    mod = %{user_id: 5, roles: [10]}
    refute P.has?(P.in_channel(guild(), plain, hidden), @view)
    refute P.has?(P.in_channel(guild(), plain, staff), @view)
    assert P.has?(P.in_channel(guild(), mod, staff), @view)
    assert P.has?(P.in_channel(guild(), %{user_id: 5, roles: [10, 12]}, mixed), @send)
    refute P.has?(P.in_channel(guild(), mod, mixed), @send)
    refute P.has?(P.in_channel(guild(), mod, member_deny), @view)
    # Owner and administrators ignore overwrites.
    assert P.in_channel(guild(), %{user_id: 99, roles: []}, hidden) == P.all()
    assert P.in_channel(guild(), %{user_id: 5, roles: [11]}, hidden) == P.all()
  end
end
