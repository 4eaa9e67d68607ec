import factory

from accounts.models import IdToken, Membership, Organization, User, UserGroup


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    kind = Organization.Kind.ASSOCIATION
    name = factory.Sequence(lambda n: f"BRF Test {n}")
    slug = factory.Sequence(lambda n: f"brf-test-{n}")


class OperatorFactory(OrganizationFactory):
    kind = Organization.Kind.OPERATOR
    name = "Operator AB"
    slug = "operator"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.RESIDENT


class IdTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdToken

    organization = factory.SubFactory(OrganizationFactory)
    uid = factory.Sequence(lambda n: f"04A1{n:08X}")
    type = IdToken.Type.RFID


class UserGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserGroup

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
