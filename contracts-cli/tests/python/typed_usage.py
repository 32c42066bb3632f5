"""A typed use of the generated seed package: mypy --strict accepts it."""

from seed_contracts.user_service import (
    Created,
    UserCreated,
    UserData,
    UserError,
    UserServiceClient,
    UserServiceDispatcher,
    UserServiceEvents,
    UserServiceRpc,
)


def create(users: UserServiceClient) -> int:
    created: Created = users.create_user(UserData(user_id=5, name="Ada"))
    pending = users.create_user.call_async(user_data=UserData(user_id=6, name="Bo"))
    try:
        pending.result()
    except UserError as error:
        return error.payload.root.user_already_exists.user_id
    return created.user_id


def announce(events: UserServiceEvents) -> None:
    events.user_created(UserCreated(user_id=5, name="Ada"))


class Caller:
    """In a worker, the dependencies read as the client and the publisher they inject."""

    users = UserServiceRpc()
    events = UserServiceDispatcher()

    def sign_up(self) -> Created:
        created = self.users.create_user(UserData(user_id=1, name="Ada"))
        self.events.user_created(UserCreated(user_id=created.user_id, name="Ada"))
        return created
