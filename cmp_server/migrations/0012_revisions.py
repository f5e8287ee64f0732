"""No lost update (issue 19): the version of each thing staff edit through a form, the id of
the audit entry of its last change (``services/revisions.py``). A table of its own: no table
that others point at is rebuilt."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0019_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Revision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=120)),
                ('stamp', fields.BigIntField(default=0)),
            ],
            options={'table': 'revision', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The version of a thing staff edit, the id of the audit entry of its last change.'},
            bases=['Model'],
        ),
    ]
